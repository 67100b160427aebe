package turn_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// tlsHost is the name the test certificates are issued for, as the
// turns: URL's host would be.
const tlsHost = "turn.sprechzimmer.test"

// testCert makes a CA and a certificate for tlsHost in a temporary
// directory; it returns the CA and the file names.
func testCert(t *testing.T) (ca *turntest.CA, certFile, keyFile string) {
	t.Helper()
	ca, err := turntest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := ca.Issue(certFile, keyFile, 1, tlsHost); err != nil {
		t.Fatal(err)
	}
	return ca, certFile, keyFile
}

// startOwnTLS starts the project's server with a TLS listener on loopback.
func startOwnTLS(t *testing.T, certFile, keyFile string) *ownServer {
	t.Helper()
	var log testlog.Buffer
	srv, err := turn.New(turn.Config{
		Realm: testRealm, Secret: []byte(testSecret),
		UDPAddress: "127.0.0.1:0", TLSAddress: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile,
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
		Peers: turn.NewPeerPolicy([]netip.Prefix{loopback}, nil),
		// The tests' peers are sockets on loopback, the server's own host.
		UnsafeHostPeers: true,
		Logger:          slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &ownServer{Server: srv, log: &log}
}

// tlsClient is what a browser checks of a turns: server: the certificate
// chains to a trusted CA and names the URL's host.
func tlsClient(ca *turntest.CA) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool, ServerName: tlsHost, MinVersion: tls.VersionTLS12}
}

// TestTURNOverTLS runs the same table against the project's server and
// coturn, each with a TLS listener (turns:, what a network that lets only
// HTTPS through leaves): a minted credential gets a working relay over TLS,
// an expired one 401.
func TestTURNOverTLS(t *testing.T) {
	servers := []struct {
		name  string
		start func(t *testing.T, certFile, keyFile string) *net.TCPAddr
	}{
		{name: "sprechzimmer", start: func(t *testing.T, certFile, keyFile string) *net.TCPAddr {
			return startOwnTLS(t, certFile, keyFile).TLSAddr().(*net.TCPAddr)
		}},
		{name: "coturn", start: func(t *testing.T, certFile, keyFile string) *net.TCPAddr {
			return startCoturnTLS(t, certFile, keyFile)
		}},
	}
	secret := []byte(testSecret)
	tests := []struct {
		name     string
		cred     turncred.Credential
		wantCode int // 0: allocation granted
	}{
		{name: "minted, valid for an hour", cred: turncred.Mint(secret, "room-tls", time.Now().Add(time.Hour))},
		{name: "expired a minute ago", cred: turncred.Mint(secret, "room-tls", time.Now().Add(-time.Minute)), wantCode: 401},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			ca, certFile, keyFile := testCert(t)
			addr := turntest.TLSAddr{Addr: srv.start(t, certFile, keyFile), Config: tlsClient(ca)}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { assertAllocation(t, addr, tt.cred, tt.wantCode) })
			}
		})
	}
}

// startCoturnTLS starts coturn with a TLS listener (tls-listening-port,
// cert, pkey as docs/turn.md configures it) and returns its address.
func startCoturnTLS(t *testing.T, certFile, keyFile string) *net.TCPAddr {
	t.Helper()
	return runCoturn(t, turntest.CoturnConfig{
		Secret: testSecret, Realm: testRealm, TLSCertFile: certFile, TLSKeyFile: keyFile,
	}).TLSAddr()
}

// servedSerial connects to addr over TLS and returns the serial number of
// the certificate the server presents.
func servedSerial(t *testing.T, addr net.Addr, ca *turntest.CA) int64 {
	t.Helper()
	d := tls.Dialer{Config: tlsClient(ca)}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer func() { _ = c.Close() }()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSCertificateRenewal renews the certificate files under a running
// server, as cert-manager renews the Secret mounted into the Pod: the next
// connection gets the new certificate, without a restart, while the call
// relayed over the old connection goes on. A broken pair written later is
// not served: the server keeps the last good certificate and says so.
func TestTLSCertificateRenewal(t *testing.T) {
	ca, certFile, keyFile := testCert(t)
	srv := startOwnTLS(t, certFile, keyFile)
	if got := servedSerial(t, srv.TLSAddr(), ca); got != 1 {
		t.Fatalf("served certificate serial %d, want 1", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cred := turncred.Mint([]byte(testSecret), "room-renew", time.Now().Add(time.Hour))
	// From whatever address the kernel chooses, as test/node does.
	call, err := turntest.AllocateFrom(ctx, nil, turntest.TLSAddr{Addr: srv.TLSAddr().(*net.TCPAddr), Config: tlsClient(ca)}, cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() over TLS = %v", err)
	}
	defer call.Close()

	if err := ca.Issue(certFile, keyFile, 2, tlsHost); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, srv.TLSAddr(), ca); got != 2 {
		t.Fatalf("after renewal the server presents serial %d, want the renewed certificate's 2", got)
	}
	assertRelays(t, call)

	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, srv.TLSAddr(), ca); got != 2 {
		t.Fatalf("with a broken certificate file the server presents serial %d, want the last good one, 2", got)
	}
	if !strings.Contains(srv.log.String(), "cannot be loaded") {
		t.Errorf("the log does not tell that the changed files cannot be loaded:\n%s", srv.log.String())
	}
}

// TestTLSListenerNeedsCertificate checks that a TLS listener without a
// usable certificate does not start.
func TestTLSListenerNeedsCertificate(t *testing.T) {
	_, certFile, keyFile := testCert(t)
	tests := []struct {
		name              string
		certFile, keyFile string
		wantErr           string
	}{
		{name: "no files", wantErr: "TLSCertFile"},
		{name: "no key file", certFile: certFile, wantErr: "TLSKeyFile"},
		{name: "missing file", certFile: certFile + ".missing", keyFile: keyFile, wantErr: "tls.crt.missing"},
		{name: "key and certificate swapped", certFile: keyFile, keyFile: certFile, wantErr: "tls certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := turn.New(turn.Config{
				Realm: testRealm, Secret: []byte(testSecret), UDPAddress: "127.0.0.1:0",
				TLSAddress: "127.0.0.1:0", TLSCertFile: tt.certFile, TLSKeyFile: tt.keyFile,
				RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
			})
			if err == nil {
				_ = srv.Close()
				t.Fatal("turn.New() = nil error, want a refusal")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("turn.New() = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestCoturnCertificateReload checks what docs/turn.md says about coturn:
// it keeps its certificate until SIGUSR2 and serves the renewed one to new
// connections after it, without a restart.
func TestCoturnCertificateReload(t *testing.T) {
	ca, certFile, keyFile := testCert(t)
	c := runCoturn(t, turntest.CoturnConfig{
		Secret: testSecret, Realm: testRealm, TLSCertFile: certFile, TLSKeyFile: keyFile,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if got := servedSerial(t, c.TLSAddr(), ca); got != 1 {
		t.Fatalf("coturn serves serial %d, want 1", got)
	}
	if err := ca.Issue(certFile, keyFile, 2, tlsHost); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, c.TLSAddr(), ca); got != 1 {
		t.Fatalf("coturn serves serial %d before SIGUSR2, want the old 1", got)
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	// coturn reloads in its own time and tells no one: ask until it serves
	// the new certificate or the deadline passes.
	for servedSerial(t, c.TLSAddr(), ca) != 2 {
		select {
		case <-ctx.Done():
			t.Fatal("coturn still serves the old certificate after SIGUSR2")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
