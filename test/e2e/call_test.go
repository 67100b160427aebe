package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/testroom"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// Texts a German-speaking person reads; the tests look for them, not for
// internal codes, where a person would notice a difference.
const (
	textWaiting     = "Warten auf Ihr Gegenüber"
	textConnected   = "Verbunden"
	textRoomFull    = "Dieser Link wird gerade in einem anderen Fenster oder auf einem anderen Gerät benutzt."
	textRoomClosed  = "Die Zeit für diesen Termin ist abgelaufen."
	textLinkExpired = "Dieser Termin ist vorbei, der Link ist abgelaufen."
	textLinkInvalid = "Dieser Link ist nicht gültig."
	textLinkMissing = "Dieser Link ist unvollständig."
	textConsent     = "Bitte bestätigen Sie zuerst die Nutzungsbedingungen und die Einwilligung."
	textEnded       = "Sie haben das Gespräch beendet."
	textReplaced    = "Das Gespräch wird in einem anderen Fenster fortgesetzt."
)

// assertShows checks that the element with id shows want.
func assertShows(p *page, id, want string) {
	p.T.Helper()
	p.WaitFor(fmt.Sprintf("#%s to say %q", id, want), fmt.Sprintf("(document.getElementById(%q).innerText || '').includes(%q)", id, want))
}

// TestCall goes through a whole call in each engine, and with the
// therapist and the client in different engines both ways.
func TestCall(t *testing.T) {
	pairs := []struct{ therapist, client engine }{
		{chromium, chromium},
		{firefox, firefox},
		{chromium, firefox},
		{firefox, chromium},
	}
	for _, pair := range pairs {
		t.Run(fmt.Sprintf("therapist in %s, client in %s", pair.therapist, pair.client), func(t *testing.T) {
			testCall(t, pair.therapist, pair.client)
		})
	}
}

// testCall is TestCall with the therapist's page in therapistIn and the
// client's in clientIn.
func testCall(t *testing.T, therapistIn, clientIn engine) {
	r := startRoom(t, roomOptions{})
	therapist := openPageIn(t, therapistIn, "therapist", r.Link(r.Therapist))
	client := openPageIn(t, clientIn, "client", r.Link(r.Client))
	// The published screenshots are of a Chromium pair.
	screenshot := func(p *page, name string) {
		if therapistIn == chromium && clientIn == chromium {
			p.Screenshot(name)
		}
	}

	for _, p := range []*page{therapist, client} {
		p.WaitState("waiting-room")
		href, err := testbrowser.Eval[string](p, "location.href")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(href, "#") || strings.Contains(href, r.Therapist) || strings.Contains(href, r.Client) {
			t.Errorf("%s: the token is still in the address bar: %s", p.Name, href)
		}
	}

	// The therapist sees a note, not the consent boxes; the client must
	// tick both boxes before the button works.
	if therapist.Visible("consent") || !therapist.Visible("therapist-note") {
		t.Errorf("therapist: consent boxes shown or note missing")
	}
	if !client.Visible("consent") || client.Visible("therapist-note") {
		t.Errorf("client: consent boxes missing or therapist note shown")
	}
	client.WaitFor("the level meter to move", "window.sprechzimmer.level > 0")
	assertAccessible(t, client, "waiting room")
	assertAccessible(t, therapist, "waiting room")
	client.Click("terms")
	client.Click("processing")
	client.Type("name", "Frau Beispiel")
	client.WaitFor("the enter button enabled", `!document.getElementById("enter").disabled`)
	assertAccessible(t, client, "waiting room, consent given")
	screenshot(client, "waiting-room-client")
	screenshot(therapist, "waiting-room-therapist")

	client.Click("enter")
	client.WaitState("waiting")
	assertShows(client, "status", textWaiting)
	assertAccessible(t, client, "waiting for the other")

	therapist.EnterByKeyboard()
	therapist.WaitState("connected")
	client.WaitState("connected")
	focused, _ := testbrowser.Eval[string](therapist, "document.activeElement.id")
	if focused != "mute" {
		t.Errorf("after entering by keyboard the focus is on %q, want the microphone button", focused)
	}
	therapist.AssertVideoFlows()
	client.AssertVideoFlows()
	assertShows(therapist, "status", "Verbunden mit Frau Beispiel")
	assertShows(client, "status", textConnected)
	assertAccessible(t, therapist, "call")
	assertAccessible(t, client, "call")
	screenshot(therapist, "call-therapist")

	t.Run("a third page with either link is refused", func(t *testing.T) {
		reportTo(t, therapist, client)
		tests := []struct {
			name  string
			token string
			enter func(p *page)
		}{
			{"therapist link", r.Therapist, func(p *page) { p.EnterByKeyboard() }},
			{"client link", r.Client, func(p *page) { p.EnterAsClient("") }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				third := openPageIn(t, clientIn, "third ("+tt.name+")", r.Link(tt.token))
				tt.enter(third)
				third.WaitState("closed")
				assertShows(third, "message", textRoomFull)
				assertAccessible(t, third, "room full")
				third.Close()
			})
		}
		if s := therapist.State(); s != "connected" {
			t.Errorf("therapist after the refusals: state %q, want connected", s)
		}
		client.AssertVideoFlows()
	})

	t.Run("mute and camera buttons", func(t *testing.T) {
		reportTo(t, therapist, client)
		therapist.Click("mute")
		therapist.WaitFor("mute pressed", `document.getElementById("mute").getAttribute("aria-pressed") === "true"`)
		label, _ := testbrowser.Eval[string](therapist, `document.getElementById("mute").getAttribute("aria-label")`)
		if label != "Mikrofon einschalten" {
			t.Errorf("muted button label %q, want %q", label, "Mikrofon einschalten")
		}
		sending, _ := testbrowser.Eval[bool](therapist, `window.sprechzimmer.pc.getSenders().some(s => s.track && s.track.kind === "audio" && s.track.enabled)`)
		if sending {
			t.Errorf("muted, but the microphone track still sends")
		}
		therapist.Click("mute")
		therapist.Click("camera-toggle")
		therapist.WaitFor("camera off", `document.getElementById("camera-toggle").getAttribute("aria-pressed") === "true"`)
		therapist.Click("camera-toggle")
		therapist.WaitFor("camera on", `window.sprechzimmer.pc.getSenders().some(s => s.track && s.track.kind === "video" && s.track.enabled)`)
	})

	t.Run("reloading a page reconnects the call", func(t *testing.T) {
		reportTo(t, therapist, client)
		for _, p := range []*page{therapist, client} {
			p.Reload()
			p.WaitState("connected")
			therapist.WaitState("connected")
			client.WaitState("connected")
			therapist.AssertVideoFlows()
			client.AssertVideoFlows()
		}
		assertShows(therapist, "status", "Verbunden mit Frau Beispiel")
	})

	t.Run("a dropped server connection comes back", func(t *testing.T) {
		reportTo(t, therapist, client)
		if _, err := testbrowser.Eval[bool](client, "(window.sprechzimmer.dropConnection(), true)"); err != nil {
			t.Fatal(err)
		}
		client.WaitFor("the reconnect", `window.sprechzimmer.trace.includes("close:3001 out:hello")`)
		client.WaitState("connected")
		therapist.WaitState("connected")
		therapist.AssertVideoFlows()
		client.AssertVideoFlows()
	})

	t.Run("hang up and enter again", func(t *testing.T) {
		reportTo(t, therapist, client)
		client.Click("hangup")
		client.WaitState("ended")
		assertShows(client, "ended", textEnded)
		assertAccessible(t, client, "ended")
		therapist.WaitState("waiting")
		assertShows(therapist, "status", textWaiting)
		client.Click("rejoin")
		client.WaitState("connected")
		therapist.WaitState("connected")
		therapist.AssertVideoFlows()
	})

	outer := t // the second window outlives its subtest
	t.Run("the same tab's place taken by another window", func(t *testing.T) {
		reportTo(t, therapist, client)
		// A second window that carries this tab's session (token and resume)
		// takes the therapist's place; the first window learns where the
		// call went.
		session, err := testbrowser.Eval[string](therapist, "JSON.stringify(Object.fromEntries(Object.entries(sessionStorage)))")
		if err != nil {
			t.Fatal(err)
		}
		second := openPageIn(outer, therapistIn, "second therapist window", r.URL)
		if _, err := testbrowser.Eval[bool](second, fmt.Sprintf("(Object.entries(%s).forEach(([k, v]) => sessionStorage.setItem(k, v)), true)", session)); err != nil {
			t.Fatal(err)
		}
		second.Reload()
		second.WaitState("connected")
		therapist.WaitState("closed")
		assertShows(therapist, "message", textReplaced)
		assertAccessible(t, therapist, "replaced by another window")
		client.WaitState("connected")
		second.AssertVideoFlows()
		therapist = second
	})

	t.Run("expiry closes the room", func(t *testing.T) {
		reportTo(t, therapist, client)
		r.Room.Expire()
		for _, p := range []*page{therapist, client} {
			p.WaitState("closed")
			assertShows(p, "message", textRoomClosed)
		}
		assertAccessible(t, client, "room closed")
		late := openPageIn(t, clientIn, "late", r.Link(r.Client))
		late.WaitState("closed")
		assertShows(late, "message", textRoomClosed)
	})
}

func TestClientMustConsent(t *testing.T) { forEachEngine(t, testClientMustConsent) }

func testClientMustConsent(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	client := openPage(t, "client", r.Link(r.Client))
	client.WaitState("waiting-room")

	tests := []struct {
		name              string
		terms, processing bool
	}{
		{"nothing ticked", false, false},
		{"only the terms", true, false},
		{"only the processing", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := fmt.Sprintf(`(() => {
				document.getElementById("terms").checked = %t;
				document.getElementById("processing").checked = %t;
				document.getElementById("terms").dispatchEvent(new Event("change"));
				return true;
			})()`, tt.terms, tt.processing)
			if _, err := testbrowser.Eval[bool](client, set); err != nil {
				t.Fatal(err)
			}
			disabled, _ := testbrowser.Eval[bool](client, `document.getElementById("enter").disabled`)
			if !disabled {
				t.Errorf("the enter button is enabled")
			}
			// Submitting anyway (e.g. with a script) is stopped by the page.
			if _, err := testbrowser.Eval[bool](client, `(document.getElementById("enter-form").requestSubmit(), true)`); err != nil {
				t.Fatal(err)
			}
			assertShows(client, "form-error", textConsent)
			assertAccessible(t, client, "consent missing")
			if s := client.State(); s != "waiting-room" {
				t.Errorf("state %q after submitting without consent, want waiting-room", s)
			}
		})
	}

	t.Run("the server refuses a join without consent", func(t *testing.T) {
		// A hand-made client on the same page origin, bypassing the page.
		code, err := testbrowser.Eval[string](client, fmt.Sprintf(`new Promise((resolve) => {
			const url = new URL("ws", location.href); url.protocol = "ws:";
			const ws = new WebSocket(url);
			ws.onopen = () => ws.send(JSON.stringify({type: "hello", data: {version: %d, token: %q}}));
			ws.onmessage = (ev) => {
				const m = JSON.parse(ev.data);
				if (m.type === "welcome") ws.send(JSON.stringify({type: "join", data: {name: "x"}}));
				if (m.type === "error") { resolve(m.data.code); ws.close(); }
				if (m.type === "joined") { resolve("joined"); ws.close(); }
			};
			setTimeout(() => resolve("timeout"), 10000);
		})`, protocol.Version, r.Client))
		if err != nil {
			t.Fatal(err)
		}
		if code != "consent-required" {
			t.Errorf("server answered %q, want consent-required", code)
		}
	})
}

func TestRefusedLinks(t *testing.T) { forEachEngine(t, testRefusedLinks) }

func testRefusedLinks(t *testing.T, _ engine) {
	tests := []struct {
		name     string
		link     func(r *testroom.Room) string
		prepare  func(r *testroom.Room)
		expired  bool
		wantCode string
		wantText string
	}{
		{
			name:     "unknown token",
			link:     func(r *testroom.Room) string { return r.Link("not-a-token-of-this-room") },
			wantCode: "link-invalid",
			wantText: textLinkInvalid,
		},
		{
			name:     "no token in the link",
			link:     func(r *testroom.Room) string { return r.URL },
			wantCode: "link-missing",
			wantText: textLinkMissing,
		},
		{
			name:     "after the room was closed at expiry",
			link:     func(r *testroom.Room) string { return r.Link(r.Therapist) },
			prepare:  func(r *testroom.Room) { r.Room.Expire() },
			wantCode: "room-closed",
			wantText: textRoomClosed,
		},
		{
			name:     "past the expiry time",
			link:     func(r *testroom.Room) string { return r.Link(r.Client) },
			expired:  true,
			wantCode: "link-expired",
			wantText: textLinkExpired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRoom(t, roomOptions{expired: tt.expired})
			if tt.prepare != nil {
				tt.prepare(r)
			}
			p := openPage(t, tt.name, tt.link(r))
			p.WaitState("closed")
			assertShows(p, "message", tt.wantText)
			code, _ := testbrowser.Eval[string](p, "document.body.dataset.error")
			if code != tt.wantCode {
				t.Errorf("data-error %q, want %q", code, tt.wantCode)
			}
			if p.Visible("waiting") || p.Visible("call") {
				t.Errorf("waiting room or call shown after a refusal")
			}
			assertAccessible(t, p, "refused: "+tt.wantCode)
			if tt.expired {
				p.Screenshot("link-expired")
			}
		})
	}
}
