// Package localca is the local setup's own certificate authority: made
// once, kept in a directory of the user's (so that a phone that trusts it
// once trusts every later run), and used to issue each run a server
// certificate for the addresses it listens on. A phone's browser gives a
// page camera and microphone only in a secure context; over the LAN that
// means HTTPS with a certificate the phone trusts.
package localca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The files in an authority's directory.
const (
	// CertFile is the authority's certificate (PEM); it is what a phone
	// or a browser is told to trust.
	CertFile = "ca.crt"
	// KeyFile is the authority's private key (PEM, PKCS #8), readable by
	// its owner only.
	KeyFile = "ca.key"
)

// Validity of the authority and of the server certificates it issues. Apple
// devices refuse a server certificate valid for more than 825 days; a new
// one is issued on every run anyway.
const (
	authorityValidity = 10 * 365 * 24 * time.Hour
	serverValidity    = 30 * 24 * time.Hour
	// backdate covers a phone whose clock is a little behind.
	backdate = time.Hour
)

// Authority is a certificate authority whose key is at hand.
type Authority struct {
	// Cert is the authority's certificate.
	Cert *x509.Certificate
	key  crypto.Signer
}

// DefaultDir is where the local setup keeps its authority: the user's
// state directory ($XDG_STATE_HOME, else ~/.local/state) on Linux and the
// BSDs, the user's configuration directory elsewhere (macOS: ~/Library/
// Application Support), under sprechzimmer/dev-ca. It outlives every run
// and is not a cache: deleting it means trusting a new authority.
func DefaultDir() (string, error) {
	base := ""
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		if base = os.Getenv("XDG_STATE_HOME"); !filepath.IsAbs(base) {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no directory for the local certificate authority: %w", err)
			}
			base = filepath.Join(home, ".local", "state")
		}
	default:
		var err error
		if base, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("no directory for the local certificate authority: %w", err)
		}
	}
	return filepath.Join(base, "sprechzimmer", "dev-ca"), nil
}

// LoadOrCreate reads the authority kept in dir, or makes one there if dir
// holds none; created says which. Broken or mismatched files are an error
// naming the file, never silently replaced: a phone may trust the old one.
func LoadOrCreate(dir string, now time.Time) (_ *Authority, created bool, _ error) {
	certPEM, certErr := os.ReadFile(filepath.Join(dir, CertFile))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, KeyFile))
	switch {
	case certErr == nil && keyErr == nil:
		a, err := parse(dir, certPEM, keyPEM)
		return a, false, err
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		a, err := create(dir, now)
		return a, err == nil, err
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, false, fmt.Errorf("local certificate authority: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, false, fmt.Errorf("local certificate authority: %w", keyErr)
	}
	return nil, false, fmt.Errorf("local certificate authority: %s holds only one of %s and %s; remove the directory to make a new authority", dir, CertFile, KeyFile)
}

// create makes a new authority and writes it to dir: the key first (owner
// only), then the certificate, each through a file renamed into place, so
// a run that stops halfway leaves no half-written file.
func create(dir string, now time.Time) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	name := "Sprechzimmer development CA"
	if host != "" {
		name += " (" + host + ")"
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Sprechzimmer local setup"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(authorityValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("local certificate authority: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local certificate authority: %w", err)
	}
	if err := writeFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, key: key}, nil
}

// writeFile writes data to a new file beside path with mode perm and
// renames it to path.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("local certificate authority: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return fmt.Errorf("local certificate authority: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("local certificate authority: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local certificate authority: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("local certificate authority: %w", err)
	}
	return nil
}

// parse reads an authority's certificate and key and checks that they
// belong together and make a certificate authority.
func parse(dir string, certPEM, keyPEM []byte) (*Authority, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("local certificate authority: %s holds no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("local certificate authority: %s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("local certificate authority: %s is not a CA certificate", certPath)
	}
	block, _ = pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("local certificate authority: %s holds no PEM key", keyPath)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("local certificate authority: %s: %w", keyPath, err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("local certificate authority: %s holds no signing key", keyPath)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("local certificate authority: the key in %s does not belong to %s", keyPath, certPath)
	}
	return &Authority{Cert: cert, key: key}, nil
}

// ServerCertificate issues a certificate for hosts (IP addresses or DNS
// names), valid from now on for 30 days, with the authority's certificate
// in its chain.
func (a *Authority) ServerCertificate(hosts []string, now time.Time) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("local certificate authority: a server certificate needs a host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"Sprechzimmer local setup"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	AddHosts(tmpl, hosts...)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("local certificate authority: issuing a server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, a.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// Pool is a certificate pool that holds only the authority.
func (a *Authority) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.Cert)
	return pool
}

// Fingerprint is the SHA-256 fingerprint of the authority's certificate,
// as phones show it: upper-case hex bytes joined by colons.
func (a *Authority) Fingerprint() string {
	sum := sha256.Sum256(a.Cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n.Add(n, big.NewInt(1))
}

// DownloadPath is where the local setup serves the authority's certificate.
const DownloadPath = "/sprechzimmer-dev-ca.crt"

// ServeHTTP serves the authority's certificate, DER-encoded, as
// application/x-x509-ca-cert: iOS offers to install it as a profile,
// Android saves it for Settings → Install a certificate → CA certificate,
// and desktop browsers import it. No key is ever served.
func (a *Authority) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/x-x509-ca-cert")
	h.Set("Content-Disposition", `attachment; filename="`+strings.TrimPrefix(DownloadPath, "/")+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(a.Cert.Raw)
}

// AddHosts names hosts in tmpl's subject alternative names: IP addresses
// as IP addresses, everything else as DNS names.
func AddHosts(tmpl *x509.Certificate, hosts ...string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}
