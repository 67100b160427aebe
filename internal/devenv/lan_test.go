package devenv

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestListenLANRefusesBadAddresses checks that a -lan-listen a person
// mistyped is an error that names the flag.
func TestListenLANRefusesBadAddresses(t *testing.T) {
	for _, listen := range []string{"video.local:8443", "8443", "[::1"} {
		t.Run(listen, func(t *testing.T) {
			l, _, err := listenLAN(context.Background(), LANOptions{Listen: listen, CADir: t.TempDir()}, time.Now())
			if err == nil {
				_ = l.Close()
				t.Fatalf("listenLAN(%q) succeeded", listen)
			}
			if !strings.Contains(err.Error(), "-lan-listen") {
				t.Errorf("listenLAN(%q) = %v, want an error naming -lan-listen", listen, err)
			}
		})
	}
}

// TestLANServesHTTPSWithTheAuthoritysCertificate checks the LAN listener
// as a phone that trusts the local authority meets it: HTTPS on the
// address given, a certificate for that address, HTTP/1.1 (the front door
// hijacks WebSockets), and the authority's certificate for download.
func TestLANServesHTTPSWithTheAuthoritysCertificate(t *testing.T) {
	l, lan, err := listenLAN(context.Background(), LANOptions{Listen: "127.0.0.1:0", CADir: t.TempDir()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	door := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("door " + r.URL.Path)) })
	said := make(chan string, 10)
	errorLog := log.New(&serverLog{out: lineWriter(said), logs: io.Discard}, "", 0)
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: lan.handler(door), ErrorLog: errorLog}}
	srv.Start()
	t.Cleanup(srv.Close)
	if lan.Origin.Scheme != "https" || lan.Origin.Host != l.Addr().String() {
		t.Fatalf("origin %s, want https://%s", lan.Origin, l.Addr())
	}
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: lan.CA.Pool()}, ForceAttemptHTTP2: true}}
	resp, err := c.Get(lan.Origin.String() + "/r/room/")
	if err != nil {
		t.Fatalf("a client that trusts the authority: %v", err)
	}
	_ = resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Errorf("the front door spoke %s; WebSockets through it need HTTP/1.1", resp.Proto)
	}
	// A phone that does not trust the authority yet: the person is told,
	// once, without the phone's address.
	for range 2 {
		if resp, err := (&http.Client{Timeout: time.Minute}).Get(lan.Origin.String()); err == nil {
			_ = resp.Body.Close()
			t.Fatal("a client that does not trust the authority got a page")
		}
	}
	select {
	case line := <-said:
		if !strings.Contains(line, "does not trust the local certificate authority") || strings.Contains(line, "127.0.0.1") {
			t.Errorf("the person reads %q, want a hint about trusting the authority without an address", line)
		}
	case <-time.After(time.Minute):
		t.Fatal("nobody was told that a browser refused the certificate")
	}
	resp, err = c.Get(lan.DownloadURL())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("Content-Type"); got != "application/x-x509-ca-cert" {
		t.Errorf("%s: Content-Type %q, want application/x-x509-ca-cert", lan.DownloadURL(), got)
	}
	srv.Close()
	if len(said) > 0 {
		t.Errorf("the person was told more than once: %q", <-said)
	}
}

// lineWriter sends each write to c.
type lineWriter chan<- string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}
