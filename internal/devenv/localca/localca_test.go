package localca_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/devenv/localca"
)

// TestAuthorityIsKeptAcrossRuns checks what makes a phone trust the local
// setup once: the second run finds the first run's authority, its key
// readable by the owner only, and a certificate issued in a later run
// verifies against the certificate the phone got in the first.
func TestAuthorityIsKeptAcrossRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev-ca")
	now := time.Now()
	first, created, err := localca.LoadOrCreate(dir, now)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate() = %v, created %v; want a new authority", err, created)
	}
	second, created, err := localca.LoadOrCreate(dir, now.Add(24*time.Hour))
	if err != nil || created {
		t.Fatalf("second LoadOrCreate() = %v, created %v; want the first run's authority", err, created)
	}
	if !bytes.Equal(first.Cert.Raw, second.Cert.Raw) {
		t.Fatal("the second run made a new authority: a phone that trusted the first would refuse it")
	}
	for name, want := range map[string]os.FileMode{localca.KeyFile: 0o600, localca.CertFile: 0o644, ".": 0o700} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", name, got, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the authority's directory holds %d entries, want only %s and %s", len(entries), localca.CertFile, localca.KeyFile)
	}

	later := now.Add(48 * time.Hour)
	cert, err := second.ServerCertificate([]string{"192.168.1.20", "laptop.local"}, later)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"192.168.1.20", "laptop.local"} {
		_, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: first.Pool(), DNSName: host, CurrentTime: later, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("the server certificate does not verify for %s against the first run's authority: %v", host, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: first.Pool(), DNSName: "192.168.1.21", CurrentTime: later}); err == nil {
		t.Error("the server certificate verifies for an address it was not issued for")
	}
	if days := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore).Hours() / 24; days > 825 {
		t.Errorf("the server certificate is valid for %.0f days; Apple devices refuse more than 825", days)
	}
}

// TestBrokenAuthorityIsNotReplaced checks that files a phone may trust are
// never overwritten: a broken or half-present authority is an error naming
// the file.
func TestBrokenAuthorityIsNotReplaced(t *testing.T) {
	tests := []struct {
		name     string
		prepare  func(t *testing.T, dir string)
		wantFile string
	}{
		{
			name: "certificate is not PEM",
			prepare: func(t *testing.T, dir string) {
				writeOver(t, filepath.Join(dir, localca.CertFile), "not a certificate")
			},
			wantFile: localca.CertFile,
		},
		{
			name: "key is missing",
			prepare: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, localca.KeyFile)); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: localca.KeyFile,
		},
		{
			name: "key of another authority",
			prepare: func(t *testing.T, dir string) {
				other := t.TempDir()
				if _, _, err := localca.LoadOrCreate(other, time.Now()); err != nil {
					t.Fatal(err)
				}
				key, err := os.ReadFile(filepath.Join(other, localca.KeyFile))
				if err != nil {
					t.Fatal(err)
				}
				writeOver(t, filepath.Join(dir, localca.KeyFile), string(key))
			},
			wantFile: localca.KeyFile,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := localca.LoadOrCreate(dir, time.Now()); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir)
			before := snapshot(t, dir)
			_, _, err := localca.LoadOrCreate(dir, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.wantFile) {
				t.Fatalf("LoadOrCreate() = %v, want an error naming %s", err, tt.wantFile)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("LoadOrCreate changed the directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestDownloadIsTheCertificate checks what a phone downloads: the
// authority's certificate, DER, with the content type that makes iOS and
// Android offer to install it, and nothing of the key.
func TestDownloadIsTheCertificate(t *testing.T) {
	ca, _, err := localca.LoadOrCreate(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ca)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + localca.DownloadPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("Content-Type"); got != "application/x-x509-ca-cert" {
		t.Errorf("Content-Type %q, want application/x-x509-ca-cert", got)
	}
	cert, err := x509.ParseCertificate(body)
	if err != nil || !cert.Equal(ca.Cert) {
		t.Fatalf("the download is not the authority's certificate (parse: %v)", err)
	}
	if len(ca.Fingerprint()) != 32*3-1 {
		t.Errorf("Fingerprint() = %q, want 32 hex bytes joined by colons", ca.Fingerprint())
	}
}

// TestServerCertificateServesTLS checks the issued certificate in a real
// TLS handshake, as a browser that trusts the authority makes it.
func TestServerCertificateServesTLS(t *testing.T) {
	ca, _, err := localca.LoadOrCreate(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("a client that trusts the authority: %v", err)
	}
	_ = resp.Body.Close()
	if _, err := http.Get(srv.URL); err == nil {
		t.Error("a client that does not trust the authority connected")
	}
}

func writeOver(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes dir's files and their contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + ":" + string(data) + ";")
	}
	return b.String()
}
