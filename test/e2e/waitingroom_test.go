package e2e

import (
	"net"
	"strings"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

const (
	textTURNReachable   = "Der Vermittlungsserver (TURN) ist erreichbar."
	textTURNUnreachable = "Der Vermittlungsserver (TURN) ist nicht erreichbar."
	textTestFailed      = "Der Verbindungstest hat nicht geklappt."
	textCameraDenied    = "Der Zugriff auf Kamera und Mikrofon wurde nicht erlaubt."
)

// closedTURN returns an ICE server entry for a loopback port nobody serves.
func closedTURN(t *testing.T) []protocol.ICEServer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().String()
	_ = conn.Close()
	return []protocol.ICEServer{{URLs: []string{"turn:" + addr + "?transport=udp"}, Username: "1:x", Credential: "x"}}
}

func TestConnectionTest(t *testing.T) { forEachEngine(t, testConnectionTest) }

func testConnectionTest(t *testing.T, _ engine) {
	tests := []struct {
		name     string
		ice      func(t *testing.T) []protocol.ICEServer
		want     []string
		dontWant []string
	}{
		{
			name:     "no TURN server given",
			ice:      func(*testing.T) []protocol.ICEServer { return nil },
			want:     []string{textTestOK},
			dontWant: []string{"TURN"},
		},
		{
			name: "TURN server reachable",
			ice:  func(t *testing.T) []protocol.ICEServer { return turntest.CoturnICE(t, "e2e") },
			want: []string{textTestOK, textTURNReachable},
		},
		{
			// Given a TURN server, the echo peer uses only its relay (as
			// in production, where the room's Pod is reachable only
			// through TURN), so without TURN the test cannot connect.
			name:     "TURN server unreachable",
			ice:      closedTURN,
			want:     []string{textTestFailed, textTURNUnreachable},
			dontWant: []string{textTestOK},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRoom(t, roomOptions{iceServers: tt.ice(t)})
			p := openPage(t, "therapist", r.Link(r.Therapist))
			p.WaitState("waiting-room")
			p.WaitFor("the camera preview", `document.body.dataset.media === "ok"`)
			p.Click("test")
			p.WaitFor("the test result", `!!document.getElementById("test-result").dataset.result`)
			got := p.Text("test-result")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					res, _ := testbrowser.Eval[string](p, "JSON.stringify(window.sprechzimmer.testResult)")
					t.Errorf("result %q does not say %q (%s)", got, w, res)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("result %q says %q", got, w)
				}
			}
			assertAccessible(t, p, "connection test done")
			if tt.name == "TURN server reachable" {
				p.Screenshot("waiting-room-connection-test")
			}
			// The test's peer is gone; entering still works.
			p.EnterByKeyboard()
			p.WaitState("waiting")
		})
	}
}

func TestLanguage(t *testing.T) { forEachEngine(t, testLanguage) }

func testLanguage(t *testing.T, _ engine) {
	tests := []struct {
		name        string
		browser     string
		room        string
		wantLang    string
		wantHeading string
		wantHangup  string
	}{
		{"German browser", "de-DE,de", "en", "de", "Vorzimmer", "Auflegen"},
		{"English browser", "en-US,en", "de", "en", "Waiting room", "Hang up"},
		{"English browser, Austrian German second", "en-GB,de-AT", "de", "en", "Waiting room", "Hang up"},
		{"French browser, English room", "fr-FR,fr", "en", "en", "Waiting room", "Hang up"},
		{"French browser, German room", "fr-FR,fr", "de", "de", "Vorzimmer", "Auflegen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRoom(t, roomOptions{language: tt.room})
			p := openPage(t, tt.name, r.Link(r.Client), testbrowser.WithLanguages(tt.browser))
			p.WaitState("waiting-room")
			if got := p.Text("waiting-heading"); got != tt.wantHeading {
				t.Errorf("heading %q, want %q", got, tt.wantHeading)
			}
			lang, _ := testbrowser.Eval[string](p, "document.documentElement.lang")
			if lang != tt.wantLang {
				t.Errorf("html lang %q, want %q", lang, tt.wantLang)
			}
			hangup, _ := testbrowser.Eval[string](p, `document.getElementById("hangup").getAttribute("aria-label")`)
			if hangup != tt.wantHangup {
				t.Errorf("hang-up button named %q, want %q", hangup, tt.wantHangup)
			}
		})
	}
}

func TestCameraDenied(t *testing.T) { forEachEngine(t, testCameraDenied) }

func testCameraDenied(t *testing.T, e engine) {
	r := startRoom(t, roomOptions{})
	testbrowser.Require(t, e)
	// A browser of its own: the shared one answers every prompt with yes.
	b, stop, err := testbrowser.Launch(testbrowser.LaunchOptions{Engine: e, DenyMedia: true})
	if err != nil {
		t.Fatalf("starting %s: %v", e, err)
	}
	t.Cleanup(stop)
	p := testbrowser.Open(t, b, "therapist", r.Link(r.Therapist))
	p.WaitState("waiting-room")
	p.WaitFor("the media error", `document.body.dataset.media === "denied"`)
	assertShows(p, "media-error", textCameraDenied)
	assertAccessible(t, p, "camera denied")
	p.Screenshot("waiting-room-camera-denied")
	// Without camera the person can still enter and see the other.
	p.EnterByKeyboard()
	p.WaitState("waiting")
}

func TestPhoneScreen(t *testing.T) { forEachEngine(t, testPhoneScreen) }

func testPhoneScreen(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	client := openPage(t, "client on a phone", r.Link(r.Client), testbrowser.WithViewport(360, 740, true))
	client.WaitState("waiting-room")
	fits := `document.documentElement.scrollWidth <= window.innerWidth`
	client.WaitFor("the waiting room to fit the width", fits)
	client.WaitFor("the camera preview", `document.body.dataset.media === "ok"`)
	assertAccessible(t, client, "waiting room on a phone")
	client.Screenshot("waiting-room-phone")

	// Every control a person can reach has a name a screen reader says.
	unnamed, err := testbrowser.Eval[string](client, `[...document.querySelectorAll("button, input, select, video")]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.innerText.trim())
		.map(e => e.id).join(",")`)
	if err != nil {
		t.Fatal(err)
	}
	if unnamed != "" {
		t.Errorf("controls without a name: %s", unnamed)
	}

	therapist := openPage(t, "therapist", r.Link(r.Therapist))
	client.EnterAsClient("")
	therapist.EnterByKeyboard()
	client.WaitState("connected")
	client.WaitFor("the call to fit the width", fits)
	client.WaitFrames(0)
	assertAccessible(t, client, "call on a phone")
	client.Screenshot("call-phone")
}
