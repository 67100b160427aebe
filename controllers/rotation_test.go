package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/secretvolume"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// TestNewRoomsGetTheRotatedSecret rotates the operator's TURN secret file
// (its mounted Secret, updated as the kubelet does) while it runs: a room
// made after the change gets credentials under the new secret, and a room
// made before keeps its credentials under the old one.
func TestNewRoomsGetTheRotatedSecret(t *testing.T) {
	oldSecret, newSecret := []byte("operator-old-secret-0123456789"), []byte("operator-new-secret-0123456789")
	dir := t.TempDir()
	if err := secretvolume.Write(dir, map[string][]byte{"secret": oldSecret}); err != nil {
		t.Fatal(err)
	}
	store, err := turnsecret.Open(turnsecret.Files{Current: filepath.Join(dir, "secret")}, turnsecret.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	watching, stopWatching := context.WithCancel(context.Background())
	t.Cleanup(stopWatching)
	go store.Watch(watching, 20*time.Millisecond)

	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	startOperator(t, ns, clk, func(o *operator.Options, _ *rest.Config) { o.Room.TURNSecret = store.Current })
	openSession := func(name string) *videov1alpha1.VideoSession {
		create(t, newSession(ns, name, clk.Now().Add(10*time.Minute)))
		return waitPhase(t, types.NamespacedName{Namespace: ns, Name: name}, videov1alpha1.PhaseOpen)
	}
	before := openSession("before")
	beforeCred := roomTURNCredential(t, before)

	// The rotation as docs/turn.md describes it: the new secret becomes
	// "secret", the old one "previous" (the operator mints with "secret" only).
	if err := secretvolume.Write(dir, map[string][]byte{"secret": newSecret, "previous": oldSecret}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the operator's secret file is reread", func() error {
		if string(store.Current()) != string(newSecret) {
			return fmt.Errorf("minting with key %s", turncred.KeyID(store.Current()))
		}
		return nil
	})
	after := openSession("after")
	afterCred := roomTURNCredential(t, after)

	now := clk.Now()
	tests := []struct {
		name   string
		cred   *protocol.ICEServer
		secret []byte
		wantOK bool
	}{
		{"room made before, under the old secret", beforeCred, oldSecret, true},
		{"room made before, not under the new secret", beforeCred, newSecret, false},
		{"room made after, under the new secret", afterCred, newSecret, true},
		{"room made after, not under the old secret", afterCred, oldSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := turncred.Verify(tt.secret, tt.cred.Username, tt.cred.Credential, now)
			if tt.wantOK != (err == nil) {
				t.Errorf("Verify() = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
	if got, want := turncred.KeyIDOf(afterCred.Username), turncred.KeyID(newSecret); got != want {
		t.Errorf("the new room's username names key %q, want the new secret's %q", got, want)
	}
	// The room made before still hands out what it was made with.
	if again := roomTURNCredential(t, before); again.Username != beforeCred.Username || again.Credential != beforeCred.Credential {
		t.Error("the rotation changed the credentials of a room made before it")
	}
}

// roomTURNCredential is the TURN entry of the room's ICE servers.
func roomTURNCredential(t *testing.T, s *videov1alpha1.VideoSession) *protocol.ICEServer {
	t.Helper()
	var servers []protocol.ICEServer
	if err := json.Unmarshal(getLinks(t, s).Data["ice-servers"], &servers); err != nil {
		t.Fatal(err)
	}
	for i := range servers {
		if strings.HasPrefix(servers[i].URLs[0], "turn:") {
			return &servers[i]
		}
	}
	t.Fatalf("no TURN server among the room's %d ICE servers", len(servers))
	return nil
}
