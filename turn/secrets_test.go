package turn_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/secretvolume"
	"github.com/sprechzimmer/sprechzimmer/internal/testmetrics"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

const (
	oldSecret = "rotation-old-secret-0123456789"
	newSecret = "rotation-new-secret-0123456789"
)

// rotatable is a TURN server whose shared secrets a test can change while it
// runs: rotate makes newSecret current and keeps oldSecret as the previous
// one; dropOld removes oldSecret.
type rotatable struct {
	addr    net.Addr
	rotate  func(t *testing.T)
	dropOld func(t *testing.T)
	// previousUses returns how many requests the server accepted under the
	// previous secret, or -1 where it cannot tell.
	previousUses func(t *testing.T) float64
	// dropEndsAllocations: dropping a secret refuses the next request of
	// an allocation made under it too. coturn keeps the key it checked an
	// allocation's first request with and does not ask for the secret again.
	dropEndsAllocations bool
}

// startOwnRotatable runs the project's server on a Secret volume, as in
// Kubernetes: -secret-file is the key "secret", -previous-secret-file the
// key "previous". The test reloads the store itself instead of waiting for
// the watch interval.
func startOwnRotatable(t *testing.T) rotatable {
	dir := t.TempDir()
	write := func(t *testing.T, data map[string]string) {
		t.Helper()
		b := map[string][]byte{}
		for k, v := range data {
			b[k] = []byte(v)
		}
		if err := secretvolume.Write(dir, b); err != nil {
			t.Fatal(err)
		}
	}
	write(t, map[string]string{"secret": oldSecret})
	store, err := turnsecret.Open(turnsecret.Files{Current: filepath.Join(dir, "secret"), Previous: filepath.Join(dir, "previous")}, turnsecret.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{
		Realm: testRealm, Secrets: store, UDPAddress: "127.0.0.1:0",
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1", UnsafeHostPeers: true, Registerer: reg,
		Peers: turn.NewPeerPolicy([]netip.Prefix{loopback}, nil),
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	reload := func(t *testing.T, data map[string]string) {
		t.Helper()
		write(t, data)
		if err := store.Reload(); err != nil {
			t.Fatalf("Reload() = %v", err)
		}
	}
	return rotatable{
		addr:    srv.UDPAddr(),
		rotate:  func(t *testing.T) { reload(t, map[string]string{"secret": newSecret, "previous": oldSecret}) },
		dropOld: func(t *testing.T) { reload(t, map[string]string{"secret": newSecret}) },
		previousUses: func(t *testing.T) float64 {
			return testmetrics.Value(t, reg, "sprechzimmer_turn_authentications_total", "secret", turnsecret.RolePrevious)
		},
		dropEndsAllocations: true,
	}
}

// startCoturnRotatable runs coturn with its secrets in its database, as
// docs/turn.md describes, and changes them with turnadmin while it runs.
func startCoturnRotatable(t *testing.T) rotatable {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := turntest.StartCoturn(ctx, turntest.CoturnConfig{Realm: testRealm})
	if err != nil {
		skipWithoutCoturn(t, err)
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	admin := func(t *testing.T, args ...string) {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "turnadmin", append([]string{"-b", c.DB(), "-r", testRealm}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("turnadmin %v: %v\n%s", args[0], err, out)
		}
	}
	admin(t, "-s", oldSecret)
	return rotatable{
		addr:         c.Addr(),
		rotate:       func(t *testing.T) { admin(t, "-s", newSecret) },
		dropOld:      func(t *testing.T) { admin(t, "-X", oldSecret) },
		previousUses: func(*testing.T) float64 { return -1 },
	}
}

// TestRotation rotates the shared secret of a running server: during the
// rollover it accepts credentials minted under the old and the new secret,
// and an allocation made before the rotation keeps working; once the old
// secret is dropped, credentials minted under it are refused.
func TestRotation(t *testing.T) {
	for _, srv := range []struct {
		name  string
		start func(t *testing.T) rotatable
	}{{"own", startOwnRotatable}, {"coturn", startCoturnRotatable}} {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			expiry := time.Now().Add(time.Hour)
			oldCred := turncred.Mint([]byte(oldSecret), "room-old", expiry)
			newCred := turncred.Mint([]byte(newSecret), "room-new", expiry)
			allocate := func(t *testing.T, cred turncred.Credential) (*turntest.Allocation, error) {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				return turntest.Allocate(ctx, s.addr, cred.Username, cred.Password)
			}
			call, err := allocate(t, oldCred)
			if err != nil {
				t.Fatalf("before the rotation: Allocate(old) = %v", err)
			}
			defer call.Close()
			assertRelays(t, call)
			if _, err := allocate(t, newCred); turnCode(err) != 401 {
				t.Fatalf("before the rotation: Allocate(new) = %v, want 401", err)
			}

			s.rotate(t)
			if err := call.CreatePermission(udpPeer(t).LocalAddr()); err != nil {
				t.Errorf("during the rollover: the allocation made before it cannot create a permission: %v", err)
			}
			assertRelays(t, call)
			for _, cred := range []turncred.Credential{oldCred, newCred} {
				a, err := allocate(t, cred)
				if err != nil {
					t.Fatalf("during the rollover: Allocate(%s) = %v", cred.Username, err)
				}
				assertRelays(t, a)
				a.Close()
			}
			if n := s.previousUses(t); n == 0 {
				t.Error("sprechzimmer_turn_authentications_total{secret=\"previous\"} = 0 after requests under the previous secret")
			}

			s.dropOld(t)
			if a, err := allocate(t, oldCred); turnCode(err) != 401 {
				if err == nil {
					a.Close()
				}
				t.Errorf("after dropping the old secret: Allocate(old) = %v, want 401", err)
			}
			if err := call.CreatePermission(udpPeer(t).LocalAddr()); err == nil && s.dropEndsAllocations {
				t.Error("after dropping the old secret: an old allocation still creates permissions")
			}
			a, err := allocate(t, newCred)
			if err != nil {
				t.Fatalf("after dropping the old secret: Allocate(new) = %v", err)
			}
			a.Close()
		})
	}
}

// skipWithoutCoturn skips t when err says coturn is not installed, or fails
// it there when CI=true.
func skipWithoutCoturn(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, turntest.ErrNoCoturn) {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %v", err)
	}
	t.Skipf("skipping coturn: %v", err)
}
