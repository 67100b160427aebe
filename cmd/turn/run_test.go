package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// TestRun runs the server as main does, on loopback: it relays for a
// minted credential, serves its metrics and readiness, logs no secrets or
// addresses, and on SIGTERM (the context ending) drains and returns.
func TestRun(t *testing.T) {
	const secret = "run-test-secret-0123456789"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := turntest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(t.TempDir(), "tls.crt"), filepath.Join(t.TempDir(), "tls.key")
	if err := ca.Issue(certFile, keyFile, 1, "turn.test"); err != nil {
		t.Fatal(err)
	}
	o := options{
		realm: "turn.test", secretFile: secretFile, publicIP: "127.0.0.1", relayBindIP: "127.0.0.1",
		listenUDP: "127.0.0.1:0", listenTCP: "127.0.0.1:0", udpSockets: 1, maxTCPConns: 16,
		listenTLS: "127.0.0.1:0", tlsCertFile: certFile, tlsKeyFile: keyFile,
		minPort: 40000, maxPort: 44999, allowPeers: "127.0.0.0/8", metricsAddr: "127.0.0.1:0",
		drainTimeout: 10 * time.Second,
	}

	logR, logW := io.Pipe()
	var logText strings.Builder
	ports := make(chan map[string]any, 1)
	logDone := make(chan struct{})
	go func() { // the test's view of stderr: the first line tells the ports
		defer close(logDone)
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			logText.WriteString(sc.Text() + "\n")
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "turn server listening" {
				ports <- rec
			}
		}
	}()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, o, slog.New(slog.NewJSONHandler(logW, nil)))
		_ = logW.Close()
	}()

	var rec map[string]any
	select {
	case rec = <-ports:
	case err := <-done:
		t.Fatalf("run() = %v before listening", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not log that it listens")
	}
	portOf := func(key string) string { return strconv.Itoa(int(rec[key].(float64))) }
	turnAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(rec["udp_port"].(float64))}
	metricsURL := "http://127.0.0.1:" + portOf("metrics_port")

	cred := turncred.Mint([]byte(secret), "room-run", time.Now().Add(time.Hour))
	allocCtx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	alloc, err := turntest.Allocate(allocCtx, turnAddr, cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() = %v", err)
	}
	relayPort := alloc.Relay.LocalAddr().(*net.UDPAddr).Port
	if relayPort < int(o.minPort) || relayPort > int(o.maxPort) {
		t.Errorf("relay port %d outside -min-port/-max-port %d-%d", relayPort, o.minPort, o.maxPort)
	}
	// The turns: way in, with the certificate from -tls-cert-file.
	tlsAddr := turntest.TLSAddr{
		Addr:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(rec["tls_port"].(float64))},
		Config: &tls.Config{RootCAs: ca.Pool, ServerName: "turn.test", MinVersion: tls.VersionTLS12},
	}
	overTLS, err := turntest.Allocate(allocCtx, tlsAddr, cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() over -listen-tls = %v", err)
	}
	overTLS.Close()

	for path, want := range map[string]string{
		"/metrics": `sprechzimmer_turn_allocations_total{listener="tls"} 1`,
		"/readyz":  "ok",
		"/healthz": "ok",
	} {
		body := get(t, metricsURL+path)
		if !strings.Contains(body, want) {
			t.Errorf("GET %s does not contain %q:\n%s", path, want, body)
		}
	}

	alloc.Close()
	stop() // what SIGTERM does in main
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run() = %v after SIGTERM", err)
		}
	case <-time.After(o.drainTimeout):
		t.Fatal("run() did not return although its only allocation was deleted")
	}
	<-logDone
	for _, s := range []string{secret, cred.Username, cred.Password, "127.0.0.1"} {
		if strings.Contains(logText.String(), s) {
			t.Errorf("log contains %q:\n%s", s, logText.String())
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRecommendedConfigRefusesTheHost runs the flags of config/turn and
// docs/turn.md (hostNetwork: -public-ip is the node's address, here
// loopback, allowed with -allow-peers=<public-ip>/32 as the docs say for a
// private one; relay sockets on 0.0.0.0; the relay range 50000-50999; the
// cluster CIDRs denied) and checks that a UDP service on the host outside
// the relay ports never gets a datagram through the relay, while two
// allocations still reach each other, as a relay-only call needs.
func TestRecommendedConfigRefusesTheHost(t *testing.T) {
	const secret = "recommended-config-secret-0123"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	o := options{
		realm: "turn.test", secretFile: secretFile, publicIP: "127.0.0.1", relayBindIP: "0.0.0.0",
		listenUDP: "127.0.0.1:0", udpSockets: 1, minPort: 50000, maxPort: 50999,
		allowPeers: "127.0.0.1/32", denyPeers: "10.244.0.0/16,10.96.0.0/12",
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatalf("config() = %v", err)
	}
	srv, err := turn.New(cfg)
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cred := turncred.Mint([]byte(secret), "room-recommended", time.Now().Add(time.Hour))
	turntest.CheckRelaysOnlyToRelays(t, srv.UDPAddr(), cred.Username, cred.Password)
}
