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
	textAllSet          = "Alles bereit."
	textNotAll          = "Nicht alles funktioniert:"
	textRelayWorks      = "Verbindung über den Umweg-Server: funktioniert"
	textRelayUnreached  = "Verbindung über den Umweg-Server: nicht erreichbar."
	textLocalWorks      = "Bild und Ton lassen sich in diesem Browser senden und empfangen."
	textSTUNReached     = "Direkte Verbindung: möglich"
	textSTUNUnreached   = "Direkte Verbindung: Ihr Gerät erreicht den Server für den Verbindungsaufbau nicht"
	textCameraWorks     = "Kamera: funktioniert."
	textMicrophoneWorks = "Mikrofon: funktioniert."
	textBothRefused     = "Kamera und Mikrofon: nicht freigegeben."
	textCameraRefused   = "Kamera: nicht freigegeben."
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

// runNetworkTest clicks "test the connection" and waits for the result:
// its text and the data attributes the page sets on it.
func runNetworkTest(p *page) (text string, data map[string]string) {
	p.T.Helper()
	p.WaitFor("the test button enabled", `!document.getElementById("test").disabled`)
	p.Click("test")
	p.WaitFor("the test to start", `!!document.getElementById("test-result").innerText`)
	p.WaitFor("the test result", `!!document.getElementById("test-result").dataset.result`)
	data, err := testbrowser.Eval[map[string]string](p, `Object.assign({}, document.getElementById("test-result").dataset)`)
	if err != nil {
		p.T.Fatal(err)
	}
	return p.Text("test-result"), data
}

// TestConnectionTest runs the network test, which happens inside the
// browser: two peer connections of the page send the camera and microphone
// to each other through the room's TURN relay only, and a STUN check asks
// the same server. No server peer is involved (the room server has none).
func TestConnectionTest(t *testing.T) { forEachEngine(t, testConnectionTest) }

func testConnectionTest(t *testing.T, _ engine) {
	tests := []struct {
		name     string
		ice      func(t *testing.T) []protocol.ICEServer
		data     map[string]string
		want     []string
		dontWant []string
	}{
		{
			name:     "no TURN server given",
			ice:      func(*testing.T) []protocol.ICEServer { return nil },
			data:     map[string]string{"result": "ok", "relay": "none", "stun": "none", "camera": "ok", "microphone": "ok"},
			want:     []string{textAllSet, textCameraWorks, textMicrophoneWorks, textLocalWorks},
			dontWant: []string{"Umweg-Server", "Direkte Verbindung"},
		},
		{
			name: "TURN server reachable",
			ice:  func(t *testing.T) []protocol.ICEServer { return turntest.CoturnICE(t, "e2e") },
			data: map[string]string{"result": "ok", "relay": "reachable", "stun": "reachable", "camera": "ok", "microphone": "ok"},
			want: []string{textAllSet, textCameraWorks, textMicrophoneWorks, textRelayWorks, textSTUNReached},
		},
		{
			// Relay-only: without the relay the loopback cannot connect,
			// and the same closed port answers no STUN either.
			name:     "TURN server unreachable",
			ice:      closedTURN,
			data:     map[string]string{"result": "failed", "relay": "unreachable", "stun": "unreachable"},
			want:     []string{textNotAll, textRelayUnreached, textSTUNUnreached},
			dontWant: []string{textAllSet, textRelayWorks},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRoom(t, roomOptions{iceServers: tt.ice(t)})
			p := openPage(t, "therapist", r.Link(r.Therapist))
			p.WaitState("waiting-room")
			p.WaitFor("the camera preview", `document.body.dataset.media === "ok"`)
			got, data := runNetworkTest(p)
			for k, v := range tt.data {
				if data[k] != v {
					res, _ := testbrowser.Eval[string](p, "JSON.stringify(window.sprechzimmer.testResult)")
					t.Errorf("result %s = %q, want %q (%s; %q)", k, data[k], v, res, got)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("result %q does not say %q", got, w)
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
			// The test's peer connections are gone; the preview still runs
			// and entering still works.
			if n, _ := testbrowser.Eval[int](p, "window.sprechzimmer.liveTracks().length"); n != 2 {
				t.Errorf("%d live tracks after the test, want the preview's 2", n)
			}
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
		{"German browser", "de-DE,de", "en", "de", "Wartezimmer", "Auflegen"},
		{"English browser", "en-US,en", "de", "en", "Waiting room", "Hang up"},
		{"English browser, Austrian German second", "en-GB,de-AT", "de", "en", "Waiting room", "Hang up"},
		{"French browser, English room", "fr-FR,fr", "en", "en", "Waiting room", "Hang up"},
		{"French browser, German room", "fr-FR,fr", "de", "de", "Wartezimmer", "Auflegen"},
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
