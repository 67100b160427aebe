package turntest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// CoturnICE starts coturn on loopback for the test and returns it as a
// room's TURN server (UDP), with fresh TURN REST credentials for user. It
// skips t where coturn is not installed, and fails it there when CI=true.
func CoturnICE(t testing.TB, user string) []protocol.ICEServer {
	t.Helper()
	const secret = "turntest-secret"
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := StartCoturn(ctx, CoturnConfig{Secret: secret, Realm: "sprechzimmer.test"})
	if errors.Is(err, ErrNoCoturn) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true needs it)", err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cred := turncred.Mint([]byte(secret), user, time.Now().Add(time.Hour))
	return []protocol.ICEServer{{
		URLs:       []string{"turn:" + c.Addr().String() + "?transport=udp"},
		Username:   cred.Username,
		Credential: cred.Password,
	}}
}
