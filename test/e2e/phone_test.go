package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// TestLocalSetupOnLAN runs `make run LAN=1` as a therapist who tries the
// product on a phone would: cmd/dev -lan serves the links over HTTPS on
// the address of the default route's interface (in the tests' network
// namespace, the veth's 198.18.0.1), with a certificate from a local
// certificate authority it keeps in the user's state directory. A client
// that trusts that authority, and only such a client, gets the page and
// the authority's certificate from the URL printed for the phone; a
// therapist in Chromium and a client in Firefox (a phone's screen), each
// trusting the authority as a person who imported it, open the LAN links
// in a secure context, get camera and microphone, and call each other
// through the TURN server on the LAN address.
func TestLocalSetupOnLAN(t *testing.T) {
	testbrowser.Require(t, chromium, firefox)
	state := t.TempDir() // XDG_STATE_HOME: where the authority is kept
	dev, stdout, exited := startDev(t, []string{"XDG_STATE_HOME=" + state}, "-lan", "-lan-listen", ":0")
	links := readLinks(t, stdout, exited)

	caFile := filepath.Join(state, "sprechzimmer", "dev-ca", "ca.crt")
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("the authority is not kept in the user's state directory: %v", err)
	}
	if info, err := os.Stat(filepath.Join(state, "sprechzimmer", "dev-ca", "ca.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the authority's key: %v, mode %v; want a file only its owner reads", err, info.Mode().Perm())
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatalf("%s holds no PEM certificate", caFile)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	origin := originOfLink(t, links["client"])
	if origin.Scheme != "https" {
		t.Fatalf("the client's link %s is not https", origin)
	}
	if ip := net.ParseIP(origin.Hostname()); ip == nil || ip.IsLoopback() {
		t.Fatalf("the client's link points to %s, want this machine's LAN address", origin.Host)
	}
	if got := originOfLink(t, links["therapist"]); *got != *origin {
		t.Errorf("the therapist's link is on %s, the client's on %s", got, origin)
	}
	if want := origin.String() + "/sprechzimmer-dev-ca.crt"; links["ca"] != want {
		t.Errorf("the phone is told to open %q, want %q", links["ca"], want)
	}

	// A Go client that trusts the authority, as a phone that installed it.
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	trusting := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	roomPage := get(t, trusting, links["client"])
	if roomPage.status != http.StatusOK || roomPage.contentType != "text/html; charset=utf-8" {
		t.Errorf("the client's page over HTTPS: %d %s, want 200 text/html", roomPage.status, roomPage.contentType)
	}
	download := get(t, trusting, links["ca"])
	if download.contentType != "application/x-x509-ca-cert" || string(download.body) != string(ca.Raw) {
		t.Errorf("the phone downloads %d bytes of %s, want the authority's certificate as application/x-x509-ca-cert", len(download.body), download.contentType)
	}
	if resp, err := (&http.Client{Timeout: time.Minute}).Get(links["client"]); err == nil {
		_ = resp.Body.Close()
		t.Error("a client that does not trust the authority got the page")
	}

	trust := testbrowser.LaunchOptions{FakeUI: true, TrustedCAs: []string{caFile}}
	therapist := openTrusting(t, chromium, trust, "therapist", links["therapist"], testbrowser.WithRelayOnly())
	client := openTrusting(t, firefox, trust, "client", links["client"], testbrowser.WithRelayOnly(), testbrowser.WithViewport(390, 844, true))
	for _, p := range []*page{therapist, client} {
		if secure, err := testbrowser.Eval[bool](p, "window.isSecureContext"); err != nil || !secure {
			t.Fatalf("%s: isSecureContext = %v (%v); a phone's browser would refuse the camera", p.Name, secure, err)
		}
	}
	callThroughTURN(t, therapist, client) // on the LAN address
	stopDev(t, dev, exited)
	if _, err := os.Stat(caFile); err != nil {
		t.Errorf("the authority is gone after Ctrl-C (%v): the phone would have to trust a new one next time", err)
	}
}

// originOfLink is the scheme and host of a link.
func originOfLink(t *testing.T, link string) *url.URL {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		t.Fatalf("link %q: %v", link, err)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}
}

// response is what a GET returned.
type response struct {
	status      int
	contentType string
	body        []byte
}

func get(t *testing.T, c *http.Client, link string) response {
	t.Helper()
	resp, err := c.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body}
}

// openTrusting opens url in a browser of engine e of its own, started with
// o; the test's cleanup ends it.
func openTrusting(t *testing.T, e engine, o testbrowser.LaunchOptions, name, url string, opts ...pageOption) *page {
	t.Helper()
	o.Engine = e
	b, stop, err := testbrowser.Launch(o)
	if err != nil {
		t.Fatalf("starting %s: %v", e, err)
	}
	t.Cleanup(stop)
	return testbrowser.Open(t, b, name, url, opts...)
}
