package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testpeer"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// textOtherDevice is what the therapist reads when the client's link was
// opened on another device while the client's device was away.
const textOtherDevice = "Der Link Ihrer Klientin oder Ihres Klienten wurde auf einem anderen Gerät geöffnet."

// TestSeatTakeoverAnnounced: the client's device drops and the client link
// is opened on another device: the therapist's page says so over that
// device's name. The first device's resume takes the seat back, the other
// device gets reclaimed, and the notice goes.
func TestSeatTakeoverAnnounced(t *testing.T) { forEachEngine(t, testSeatTakeoverAnnounced) }

func testSeatTakeoverAnnounced(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	therapist := openPage(t, "therapist", r.Link(r.Therapist))
	therapist.EnterByKeyboard()
	therapist.WaitState("waiting")

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	dial := func(name string, opts ...testpeer.Option) *testpeer.Peer {
		t.Helper()
		p, err := testpeer.Dial(ctx, r.WSURL, r.Client, append(opts, testpeer.WithName(name), testpeer.WithLoopbackOnly())...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}

	first := dial("Frau Beispiel")
	therapist.WaitFor("the call to start", `document.body.dataset.state !== "waiting"`)
	assertShows(therapist, "peer-name", "Frau Beispiel")
	if therapist.Visible("device-notice") {
		t.Fatalf("notice shown for the client's own device")
	}

	_ = first.Close()
	therapist.WaitState("waiting")
	other := dial("Herr Anders")
	assertShows(therapist, "device-notice", textOtherDevice)
	if !therapist.Visible("device-notice") {
		t.Fatalf("notice not shown for another device")
	}
	assertAccessible(t, therapist, "link opened on another device")

	_ = dial("Frau Beispiel", testpeer.WithResume(first.Joined().Resume))
	select {
	case <-other.Closed():
	case <-time.After(waitLong):
		t.Fatal("the other device was not closed")
	}
	if e := other.Err(); e == nil || e.Code != protocol.CodeReclaimed || e.CloseCode != protocol.CloseReclaimed {
		t.Fatalf("the other device got %v, want reclaimed (%d)", e, protocol.CloseReclaimed)
	}
	therapist.WaitFor("the notice to go", `document.getElementById("device-notice").hidden`)
	assertShows(therapist, "peer-name", "Frau Beispiel")
}
