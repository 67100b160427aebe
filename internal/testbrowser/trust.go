package testbrowser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// certutil is NSS's certificate database tool (Debian's libnss3-tools).
const certutil = "certutil"

// trustCAs makes an NSS certificate database in dir that trusts each PEM
// certificate file in cas as an authority for web servers, as a person who
// imports a certificate under "Authorities" does. Firefox reads the one in
// its profile; Chromium on Linux the one in $HOME/.pki/nssdb.
func trustCAs(dir string, cas []string) error {
	if _, err := exec.LookPath(certutil); err != nil {
		return fmt.Errorf("TrustedCAs needs NSS's certutil (apt-get install libnss3-tools): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	db := "sql:" + dir
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	if out, err := exec.CommandContext(ctx, certutil, "-N", "-d", db, "--empty-password").CombinedOutput(); err != nil {
		return fmt.Errorf("certutil -N: %w: %s", err, out)
	}
	for i, ca := range cas {
		// "C,,": a trusted authority for TLS servers, nothing else.
		name := fmt.Sprintf("test authority %d (%s)", i, filepath.Base(ca))
		if out, err := exec.CommandContext(ctx, certutil, "-A", "-d", db, "-n", name, "-t", "C,,", "-a", "-i", ca).CombinedOutput(); err != nil {
			return fmt.Errorf("certutil -A %s: %w: %s", ca, err, out)
		}
	}
	return nil
}
