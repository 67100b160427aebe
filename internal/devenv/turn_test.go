package devenv

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// TestLocalTURNReachesOnlyRelays checks the local setup's TURN server:
// relay to relay on loopback works (the relay-only call of `make run`), but
// no datagram reaches any other UDP port of the machine, and a credential
// holder cannot use the relay to talk to local services.
func TestLocalTURNReachesOnlyRelays(t *testing.T) {
	secret := []byte("local-setup-test-secret-0123456789")
	srv, err := turn.New(turnConfig(secret))
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cred := turncred.Mint(secret, "room-local", time.Now().Add(time.Hour))
	var allocs [2]*turntest.Allocation
	for i := range allocs {
		if allocs[i], err = turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password); err != nil {
			t.Fatalf("Allocate() = %v", err)
		}
		defer allocs[i].Close()
	}
	a, b := allocs[0], allocs[1]

	service, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = service.Close() }()
	for range 3 {
		_, _ = a.Relay.WriteTo([]byte("to a local service"), service.LocalAddr())
		time.Sleep(20 * time.Millisecond)
	}
	if got, silent := turntest.Silent(service, 300*time.Millisecond); !silent {
		t.Errorf("a UDP service on this machine got %q through the local relay", got)
	}

	if err := b.CreatePermission(a.Relay.LocalAddr()); err != nil {
		t.Fatalf("CreatePermission(other relay) = %v", err)
	}
	if _, err := a.Relay.WriteTo([]byte("frame"), b.Relay.LocalAddr()); err != nil {
		t.Fatalf("WriteTo(other relay) = %v", err)
	}
	if got, silent := turntest.Silent(b.Relay, 5*time.Second); silent || got != "frame" {
		t.Fatalf("relay to relay: got %q (nothing: %v), want %q", got, silent, "frame")
	}
}
