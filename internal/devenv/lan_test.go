package devenv

import (
	"context"
	"crypto/tls"
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
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: lan.handler(door)}}
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
	resp, err = c.Get(lan.DownloadURL())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("Content-Type"); got != "application/x-x509-ca-cert" {
		t.Errorf("%s: Content-Type %q, want application/x-x509-ca-cert", lan.DownloadURL(), got)
	}
}
