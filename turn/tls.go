package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
)

// CertFiles serves a certificate and key from PEM files and reloads them
// when the files change, so that a renewed certificate (a cert-manager
// Secret mounted as a volume) is served to new connections without a
// restart. It looks at the files on every handshake; when they cannot be
// loaded (a half-written pair) it keeps serving the last good certificate.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	loaded   [2]os.FileInfo // the cert and key files as last loaded
	rejected [2]os.FileInfo // the files as last refused, so a bad pair is logged once
}

// NewCertFiles loads the certificate chain in certFile and its key in
// keyFile; log receives a warning when a changed pair cannot be loaded
// (nil means slog.Default()).
func NewCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	stats, err := c.stat()
	if err != nil {
		return nil, err
	}
	if err := c.load(stats); err != nil {
		return nil, err
	}
	return c, nil
}

// GetCertificate implements tls.Config.GetCertificate: the current
// certificate, reloaded first when the files have changed.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stats, err := c.stat()
	if err == nil && !sameFiles(stats, c.loaded) && !sameFiles(stats, c.rejected) {
		if err := c.load(stats); err != nil {
			c.rejected = stats
			c.log.Warn("tls certificate files changed but cannot be loaded; serving the previous certificate", "err", err)
		}
	}
	return c.cert, nil
}

// stat looks at both files; their contents are not read.
func (c *CertFiles) stat() ([2]os.FileInfo, error) {
	var stats [2]os.FileInfo
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return stats, fmt.Errorf("tls certificate: %w", err)
		}
		stats[i] = fi
	}
	return stats, nil
}

// load reads the pair; the caller holds mu (or owns c).
func (c *CertFiles) load(stats [2]os.FileInfo) error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// The error names the files, never their contents.
		return fmt.Errorf("tls certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.loaded = &cert, stats
	return nil
}

// sameFiles reports whether a and b describe the same two files, unchanged:
// a Secret volume replaces files (new inode) and editors rewrite them (new
// modification time or size).
func sameFiles(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) ||
			!a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}

// tlsServerConfig is the TLS configuration of the TURN-over-TLS listener.
// Browsers speak TLS 1.2 or 1.3 to a turns: server.
func tlsServerConfig(certs *CertFiles) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
}

// listenTLS opens the TURN-over-TLS listener on address: at most maxConns
// connections, each closed after tcpIdleTimeout of silence. It hands pion
// *tls.Conn connections, whose handshake pion completes with a timeout
// before reading requests.
func listenTLS(address string, maxConns int, certs *CertFiles) (net.Listener, error) {
	if certs == nil {
		return nil, errors.New("turn tls listener needs a certificate (TLSCertFile and TLSKeyFile)")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listen turn tls: %w", err)
	}
	return tls.NewListener(guardListener(ln, maxConns), tlsServerConfig(certs)), nil
}
