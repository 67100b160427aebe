package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/secretvolume"
	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/testmetrics"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// rotationLifetime is the TURN allocations' lifetime in TestSecretRotationMidCall:
// short, so that the browsers refresh their allocations (an authenticated
// request, under the room's credential) every 10 seconds instead of every
// 9 minutes, and an allocation whose refresh failed would end within it.
const rotationLifetime = 20 * time.Second

// TestSecretRotationMidCall rotates the TURN shared secret during a
// relay-only call (therapist in Chromium, client in Firefox) through the
// project's TURN server, the way docs/turn.md says: the TURN server's Secret
// first (the new secret as "secret", the old one as "previous"), then the
// operator's. The TURN server and the operator's minting reread their
// Secret volumes while they run. The call keeps flowing for longer than
// an allocation lives, so through refreshes under the old credential; a
// room made afterwards gets credentials under the new secret, and its call
// connects through the relay too.
func TestSecretRotationMidCall(t *testing.T) {
	testbrowser.Require(t, chromium, firefox)
	oldSecret, newSecret := []byte("e2e-rotation-old-secret-0123456789"), []byte("e2e-rotation-new-secret-0123456789")
	turnDir, operatorDir := t.TempDir(), t.TempDir()
	for _, dir := range []string{turnDir, operatorDir} {
		writeVolume(t, dir, map[string][]byte{"secret": oldSecret})
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	watch := func(files turnsecret.Files) *turnsecret.Store {
		s, err := turnsecret.Open(files, turnsecret.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		go s.Watch(ctx, 100*time.Millisecond)
		return s
	}
	turnSecrets := watch(turnsecret.Files{Current: filepath.Join(turnDir, "secret"), Previous: filepath.Join(turnDir, "previous")})
	operatorSecrets := watch(turnsecret.Files{Current: filepath.Join(operatorDir, "secret")})

	// The TURN server as `make run` runs it on loopback (internal/devenv).
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{
		Realm: "sprechzimmer.local", Secrets: turnSecrets,
		UDPAddress: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
		Peers:              turn.NewPeerPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil),
		Registerer:         reg,
		AllocationLifetime: rotationLifetime,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	// What the operator hands a new room: its minting code, with the
	// secret it read last.
	rooms := controllers.RoomOptions{TURNSecret: operatorSecrets.Current, TURNURLs: []string{"turn:" + srv.UDPAddr().String() + "?transport=udp"}}
	iceServersOf := func(id string) []protocol.ICEServer {
		return rooms.ICEServers(&videov1alpha1.VideoSession{ObjectMeta: metav1.ObjectMeta{UID: types.UID(id)}}, time.Now().Add(time.Hour))
	}

	first := iceServersOf("room-before")
	therapist, client := relayOnlyCall(t, "before", first)

	writeVolume(t, turnDir, map[string][]byte{"secret": newSecret, "previous": oldSecret})
	awaitSecret(t, "the TURN server", turnSecrets, newSecret)
	writeVolume(t, operatorDir, map[string][]byte{"secret": newSecret, "previous": oldSecret})
	awaitSecret(t, "the operator", operatorSecrets, newSecret)
	rotated := time.Now()

	testenv.EventuallyWithin(t, "the browsers refresh their relays under the previous secret", 2*rotationLifetime+waitLong, func() error {
		if n := testmetrics.Value(t, reg, "sprechzimmer_turn_authentications_total", "secret", turnsecret.RolePrevious); n < 2 {
			return fmt.Errorf("%v requests under the previous secret", n)
		}
		return nil
	})
	// An allocation whose refreshes had failed would be gone one lifetime
	// after the rotation: the call must still be up then.
	time.Sleep(time.Until(rotated.Add(rotationLifetime + time.Second)))
	for _, p := range []*page{therapist, client} {
		p.AssertVideoFlows()
		p.AssertRelayed()
	}
	if n := testmetrics.Value(t, reg, "sprechzimmer_turn_auth_failures_total", "reason", turn.ReasonBadCredential); n != 0 {
		t.Errorf("%v requests refused for a bad credential during the rotation", n)
	}

	second := iceServersOf("room-after")
	if got, want := turncred.KeyIDOf(second[0].Username), turncred.KeyID(newSecret); got != want {
		t.Fatalf("a room made after the rotation has credentials under key %q, want the new secret's %q", got, want)
	}
	relayOnlyCall(t, "after", second)
}

// relayOnlyCall brings a therapist (Chromium) and a client (Firefox) into
// a room with iceServers, relay-only, and checks that video flows through
// the relay both ways.
func relayOnlyCall(t *testing.T, name string, iceServers []protocol.ICEServer) (therapist, client *page) {
	t.Helper()
	r := startRoom(t, roomOptions{iceServers: iceServers})
	therapist = openPageIn(t, chromium, "therapist "+name, r.Link(r.Therapist), testbrowser.WithRelayOnly())
	client = openPageIn(t, firefox, "client "+name, r.Link(r.Client), testbrowser.WithRelayOnly())
	client.EnterAsClient("")
	therapist.EnterByKeyboard()
	for _, p := range []*page{therapist, client} {
		p.WaitState("connected")
		p.AssertVideoFlows()
		p.AssertRelayed()
	}
	return therapist, client
}

// writeVolume writes dir as the kubelet updates a mounted Secret.
func writeVolume(t *testing.T, dir string, data map[string][]byte) {
	t.Helper()
	if err := secretvolume.Write(dir, data); err != nil {
		t.Fatal(err)
	}
}

// awaitSecret waits until who's store has secret as its current one.
func awaitSecret(t *testing.T, who string, s *turnsecret.Store, secret []byte) {
	t.Helper()
	testenv.Eventually(t, who+" rereads its Secret", func() error {
		if string(s.Current()) != string(secret) {
			return fmt.Errorf("current key %s", turncred.KeyID(s.Current()))
		}
		return nil
	})
}
