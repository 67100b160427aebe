package turntest

import (
	"context"
	"net"
	"testing"
	"time"
)

// CheckRelaysOnlyToRelays makes two allocations on the TURN server at
// server with the credential and checks what a relay-only call needs and
// what a credential holder must not get: a datagram from one relay to a
// UDP service on this machine's loopback never arrives, one from relay to
// relay does.
func CheckRelaysOnlyToRelays(t *testing.T, server net.Addr, username, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var allocs [2]*Allocation
	for i := range allocs {
		var err error
		if allocs[i], err = Allocate(ctx, server, username, password); err != nil {
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
		_, _ = a.Relay.WriteTo([]byte("to a loopback service"), service.LocalAddr())
		time.Sleep(20 * time.Millisecond) // spaced sends, so that one lost datagram proves nothing
	}
	if got, silent := Silent(service, 300*time.Millisecond); !silent {
		t.Errorf("a UDP service on this machine's loopback got %q through the relay", got)
	}

	if err := b.CreatePermission(a.Relay.LocalAddr()); err != nil {
		t.Fatalf("CreatePermission(other relay) = %v", err)
	}
	if _, err := a.Relay.WriteTo([]byte("frame"), b.Relay.LocalAddr()); err != nil {
		t.Fatalf("WriteTo(other relay) = %v", err)
	}
	if got, silent := Silent(b.Relay, 5*time.Second); silent || got != "frame" {
		t.Fatalf("relay to relay: got %q (nothing: %v), want %q", got, silent, "frame")
	}
}
