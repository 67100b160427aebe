package devenv

import (
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
	srv, err := turn.New(turnConfig(secret, net.IPv4(127, 0, 0, 1)))
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cred := turncred.Mint(secret, "room-local", time.Now().Add(time.Hour))
	turntest.CheckRelaysOnlyToRelays(t, srv.UDPAddr(), cred.Username, cred.Password)
}
