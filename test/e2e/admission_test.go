package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// Texts the admission, the other person's state and the chat show.
const (
	textAdmissionWait   = "Sie sind im Wartezimmer."
	textClientWaits     = "wartet im Wartezimmer."
	textEndedByTherapis = "Ihre Therapeutin oder Ihr Therapeut hat das Gespräch beendet."
	textPeerCameraOff   = "Die Kamera Ihres Gegenübers ist aus."
	textPeerMuted       = "Das Mikrofon Ihres Gegenübers ist aus."
	textSeatInUse       = "Dieser Link ist gerade in einem anderen Fenster oder auf einem anderen Gerät geöffnet."
	textClosingTen      = "Das Sprechzimmer schließt in 10 Minuten"
)

// evalString runs expr in p and fails the test if it cannot.
func evalString(p *page, expr string) string {
	p.T.Helper()
	s, err := testbrowser.Eval[string](p, expr)
	if err != nil {
		p.T.Fatalf("%s: %s: %v", p.Name, expr, err)
	}
	return s
}

func TestAdmissionTherapistLetsTheClientIn(t *testing.T) {
	forEachEngine(t, testAdmissionTherapistLetsTheClientIn)
}

func testAdmissionTherapistLetsTheClientIn(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{therapistAdmits: true})
	therapist := openPage(t, "therapist", r.Link(r.Therapist))
	client := openPage(t, "client", r.Link(r.Client))
	therapist.EnterByKeyboard() // a gesture: the page may play its arrival sound
	therapist.WaitState("waiting")

	client.WaitFor("the camera preview", `document.body.dataset.media === "ok"`)
	client.EnterAsClient("Jonas")
	client.WaitState("admission")
	assertShows(client, "admission-wait", textAdmissionWait)
	client.WaitFor("the own camera preview in the waiting room", `(v => v.checkVisibility() && !!v.srcObject)(document.getElementById("preview"))`)
	client.Screenshot("waiting-room-admission-client")

	assertShows(therapist, "admit-text", "Jonas "+textClientWaits)
	assertShows(therapist, "admit-check", "Kamera funktioniert")
	therapist.WaitFor("the tab title", `document.title.startsWith("Jonas wartet")`)
	therapist.WaitFor("the arrival sound", `Number(document.body.dataset.chimed || 0) >= 1`)
	therapist.Screenshot("call-therapist-client-waiting")

	// Nothing of the therapist reached the waiting client.
	if trace := evalString(client, "window.sprechzimmer.trace"); strings.Contains(trace, "in:offer") || strings.Contains(trace, "in:candidate") || strings.Contains(trace, "in:peer-joined") {
		t.Fatalf("the waiting client received the therapist's messages: %s", trace)
	}

	therapist.Click("admit")
	therapist.WaitState("connected")
	client.WaitState("connected")
	therapist.AssertVideoFlows()
	client.AssertVideoFlows()
	if therapist.Visible("admit-panel") {
		t.Error("the admit button is still shown after admission")
	}
	therapist.WaitFor("the tab title back", `document.title === "Sprechzimmer"`)

	// The therapist ends the call for both; the client reads plain words.
	therapist.Click("end")
	client.WaitState("ended")
	assertShows(client, "ended-text", textEndedByTherapis)
	client.Screenshot("ended-by-therapist-client")
}

func TestAutomaticAdmissionNeedsNoTherapistClick(t *testing.T) {
	forEachEngine(t, testAutomaticAdmissionNeedsNoTherapistClick)
}

func testAutomaticAdmissionNeedsNoTherapistClick(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	therapist := openPage(t, "therapist", r.Link(r.Therapist))
	client := openPage(t, "client", r.Link(r.Client))
	therapist.EnterByKeyboard()
	client.EnterAsClient("")
	client.WaitState("connected")
	client.AssertVideoFlows()
	if trace := evalString(client, "window.sprechzimmer.trace"); strings.Contains(trace, "in:admitted") {
		t.Fatalf("the client waited for admission: %s", trace)
	}
}

func TestChatAndTheOtherPersonsDevices(t *testing.T) {
	forEachEngine(t, testChatAndTheOtherPersonsDevices)
}

func testChatAndTheOtherPersonsDevices(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	therapist := openPage(t, "therapist", r.Link(r.Therapist))
	client := openPage(t, "client", r.Link(r.Client))
	therapist.EnterByKeyboard()
	client.EnterAsClient("")
	therapist.WaitState("connected")
	client.WaitState("connected")

	// Chat: a message arrives, counts as unread while the panel is closed,
	// and is announced to screen readers.
	therapist.WaitFor("the data channel", "window.sprechzimmer.linkOpen")
	client.WaitFor("the data channel", "window.sprechzimmer.linkOpen")
	therapist.Click("chat-toggle")
	if evalString(therapist, `document.getElementById("chat-toggle").getAttribute("aria-pressed")`) != "true" {
		t.Error("the open chat's button is not pressed")
	}
	therapist.WaitFor("the chat input", `document.activeElement === document.getElementById("chat-input")`)
	evalString(therapist, `(() => { const i = document.getElementById("chat-input"); i.value = "Guten Tag, hören Sie mich?"; document.getElementById("chat-send").click(); return ""; })()`)
	assertShows(therapist, "chat-log", "Guten Tag, hören Sie mich?")
	assertShows(client, "chat-unread", "1")
	assertShows(client, "chat-announce", "Guten Tag, hören Sie mich?")
	client.Screenshot("call-client-chat-unread")
	client.Click("chat-toggle")
	assertShows(client, "chat-log", "Guten Tag, hören Sie mich?")
	if client.Visible("chat-unread") {
		t.Error("the unread badge stays after opening the chat")
	}

	// Camera off and microphone off are said on the other side, over the
	// picture and in the live region, not just a black picture.
	client.Click("camera-toggle")
	assertShows(therapist, "remote-overlay", textPeerCameraOff)
	assertShows(therapist, "peer-state", textPeerCameraOff)
	therapist.Screenshot("call-therapist-client-camera-off")
	client.Click("camera-toggle")
	therapist.WaitFor("the overlay gone", `document.getElementById("remote-overlay").hidden`)
	client.Click("mute")
	assertShows(therapist, "peer-state", textPeerMuted)
	if evalString(client, `document.getElementById("mute").getAttribute("aria-pressed")`) != "true" {
		t.Error("the mute button is not pressed")
	}
}

func TestLinkInUseIsSaidAtOnceAndContinueHere(t *testing.T) {
	forEachEngine(t, testLinkInUseIsSaidAtOnceAndContinueHere)
}

func testLinkInUseIsSaidAtOnceAndContinueHere(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	therapist := openPage(t, "therapist", r.Link(r.Therapist))
	first := openPage(t, "client", r.Link(r.Client))
	therapist.EnterByKeyboard()
	first.EnterAsClient("")
	first.WaitState("connected")

	second := openPage(t, "client, second tab", r.Link(r.Client))
	second.WaitState("waiting-room")
	// Said at once after hello, before any consent.
	assertShows(second, "seat-notice", textSeatInUse)
	if second.Visible("message") {
		t.Errorf("the second tab shows an error: %q", second.Text("message"))
	}
	second.Screenshot("waiting-room-link-in-use")
	second.Click("continue-here")
	second.EnterAsClient("")
	second.WaitState("connected")
	first.WaitState("closed")
	assertShows(first, "message", textReplaced)
}

func TestRoomClosingIsAnnounced(t *testing.T) { forEachEngine(t, testRoomClosingIsAnnounced) }

func testRoomClosingIsAnnounced(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{expiresIn: 9 * time.Minute})
	client := openPage(t, "client", r.Link(r.Client))
	client.WaitState("waiting-room")
	assertShows(client, "closing-warning", textClosingTen)
}
