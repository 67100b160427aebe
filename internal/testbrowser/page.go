package testbrowser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is one browser tab, of either engine.
type Page struct {
	// T is the test the tab belongs to; its failures end T.
	T testing.TB
	// Name names the tab in failure messages ("therapist", "client").
	Name string
	// Engine is the tab's browser engine.
	Engine Engine
	// Ctx is the tab's chromedp context (Chromium only; nil in Firefox).
	Ctx context.Context
	tab tab
}

// ReportTo makes p report its failures to t, a subtest of p's test, until
// t ends: a failure in a subtest must end the subtest, not its parent (a
// parent's FailNow from a subtest's goroutine is refused by package
// testing).
func (p *Page) ReportTo(t testing.TB) {
	parent := p.T
	p.T = t
	t.Cleanup(func() { p.T = parent })
}

// tab is what each engine does for a Page.
type tab interface {
	// eval returns the awaited value of expr as JSON, nil for undefined.
	eval(ctx context.Context, expr string) ([]byte, error)
	// click clicks the element with id with the mouse, once it is visible.
	click(id string) error
	// typeInto types text into the element with id.
	typeInto(id, text string) error
	// pressEnter focuses the element with id and presses Enter.
	pressEnter(id string) error
	reload() error
	screenshot() ([]byte, error)
	close()
	// done is closed when the tab is.
	done() <-chan struct{}
}

// tabOptions are what Options ask of a tab before it loads the page.
type tabOptions struct {
	languages string
	viewport  *viewport
	// scripts run before the page's own scripts in every document.
	scripts []string
}

type viewport struct {
	width, height int64
	mobile        bool
}

// Option changes a tab before it loads the page.
type Option func(*tabOptions)

// WithLanguages makes navigator.languages report langs (e.g. "en-US,en").
// Chromium also sends them as Accept-Language; Firefox's tab gets them
// from a script that runs before the page's (its language preference is
// browser-wide).
func WithLanguages(langs string) Option {
	return func(o *tabOptions) { o.languages = langs }
}

// WithViewport sets the tab's viewport, e.g. a narrow phone. mobile also
// doubles the device pixel ratio and sets a mobile user agent; Chromium in
// addition emulates touch, which Firefox's WebDriver BiDi does not offer.
func WithViewport(width, height int64, mobile bool) Option {
	return func(o *tabOptions) { o.viewport = &viewport{width, height, mobile} }
}

// WithInitScript runs the JavaScript statements js in every document the
// tab loads, before the page's own scripts and outside its
// Content-Security-Policy.
func WithInitScript(js string) Option {
	return func(o *tabOptions) { o.scripts = append(o.scripts, js) }
}

// WithRelayOnly makes every RTCPeerConnection of the tab use TURN relays
// only (iceTransportPolicy "relay"), so that the media must cross the TURN
// server.
func WithRelayOnly() Option {
	return WithInitScript(`
		const Native = window.RTCPeerConnection;
		window.RTCPeerConnection = function (config, ...rest) {
			return new Native({ ...(config || {}), iceTransportPolicy: "relay" }, ...rest);
		};
		window.RTCPeerConnection.prototype = Native.prototype;
		Object.setPrototypeOf(window.RTCPeerConnection, Native);`)
}

// Open opens url in a new tab of b; the tab closes when the test ends.
func Open(t testing.TB, b *Browser, name, url string, opts ...Option) *Page {
	t.Helper()
	var o tabOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &Page{T: t, Name: name, Engine: b.Engine}
	switch b.Engine {
	case Firefox:
		tab, err := openFirefox(b, url, o)
		if err != nil {
			t.Fatalf("%s (firefox): opening the page: %v", name, err)
		}
		p.tab = tab
	default:
		tab, err := openChromium(b, url, o)
		if err != nil {
			t.Fatalf("%s (chromium): opening the page: %v", name, err)
		}
		p.tab, p.Ctx = tab, tab.ctx
	}
	t.Cleanup(p.tab.close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s at the end: %s", name, p.Describe())
		}
	})
	return p
}

// Do runs chromedp actions with a deadline: Chromium only, an error in
// other engines. New tests use Eval and the methods of Page instead.
func (p *Page) Do(actions ...chromedp.Action[chromedp.Void]) error {
	c, ok := p.tab.(*chromiumTab)
	if !ok {
		return fmt.Errorf("chromedp actions need a Chromium tab, this one is %s", p.Engine)
	}
	return c.run(actions...)
}

// Must runs chromedp actions (Chromium only, see Do) and fails the test on
// an error.
func (p *Page) Must(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := p.Do(actions...); err != nil {
		p.T.Fatalf("%s: %s: %v (%s)", p.Name, what, err, p.Describe())
	}
}

// ErrNoValue is Eval's error when the expression gives undefined or null
// and T cannot hold it.
var ErrNoValue = errors.New("the expression gave undefined or null")

// Eval evaluates a JavaScript expression in p, awaiting a promise, and
// decodes its value (as JSON) into T.
func Eval[T any](p *Page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	return evalCtx[T](ctx, p, expr)
}

// evalCtx is Eval within ctx.
func evalCtx[T any](ctx context.Context, p *Page, expr string) (T, error) {
	var v T
	raw, err := p.tab.eval(ctx, expr)
	if err != nil {
		return v, err
	}
	if raw == nil || string(raw) == "null" {
		switch reflect.TypeFor[T]().Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			return v, nil
		}
		return v, ErrNoValue
	}
	err = json.Unmarshal(raw, &v)
	return v, err
}

// State is the page's call state (body data-state).
func (p *Page) State() string {
	s, err := Eval[string](p, "document.body.dataset.state")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return s
}

// Describe tells the page's engine, state, its peer connection's states
// and the last signaling messages, for failure messages.
func (p *Page) Describe() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := evalCtx[string](ctx, p, `(() => {
		let s = document.body.dataset.state + (document.body.dataset.error ? " / " + document.body.dataset.error : "");
		const pc = window.sprechzimmer && window.sprechzimmer.pc;
		if (pc) s += " (pc " + [pc.signalingState, pc.iceGatheringState, pc.iceConnectionState, pc.connectionState].join(" ") + ")";
		const audioOnly = document.getElementById("quality")?.dataset.audioOnly;
		if (audioOnly && audioOnly !== "off") s += " audio only: " + audioOnly;
		if (window.sprechzimmer) s += " [" + window.sprechzimmer.trace.split(" ").slice(-30).join(" ") + "]";
		return s;
	})()`)
	if err != nil {
		return string(p.Engine) + ", unreadable: " + err.Error()
	}
	return string(p.Engine) + ", " + s
}

// waitSlice is how long one evaluation of WaitFor's promise waits in the
// page before WaitFor asks again (a reload in between loses the promise).
const waitSlice = 3 * time.Second

// WaitFor waits until the JavaScript condition is true. In the page a
// MutationObserver checks it on every DOM change, and a timer every 50 ms
// for what is not in the DOM (stats, timers); a condition that throws
// counts as false.
func (p *Page) WaitFor(what, cond string) {
	p.T.Helper()
	deadline := time.Now().Add(WaitLong)
	expr := fmt.Sprintf(`new Promise((resolve) => {
		const check = () => { try { return !!(%s); } catch (e) { return false; } };
		if (check()) return resolve(true);
		const done = (v) => { obs.disconnect(); clearInterval(timer); clearTimeout(stop); resolve(v); };
		const obs = new MutationObserver(() => { if (check()) done(true); });
		obs.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
		const timer = setInterval(() => { if (check()) done(true); }, 50);
		const stop = setTimeout(() => done(false), %d);
	})`, cond, waitSlice.Milliseconds())
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), waitSlice+10*time.Second)
		ok, err := evalCtx[bool](ctx, p, expr)
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err
			select { // a page being replaced: ask again shortly
			case <-time.After(100 * time.Millisecond):
			case <-p.tab.done():
				p.T.Fatalf("%s: waiting for %s: the tab was closed", p.Name, what)
			}
		}
	}
	p.T.Fatalf("%s: waiting for %s: not within %s (last error: %v; %s)", p.Name, what, WaitLong, lastErr, p.Describe())
}

// WaitState waits until the page is in state.
func (p *Page) WaitState(state string) {
	p.T.Helper()
	p.WaitFor("state "+state, fmt.Sprintf("document.body.dataset.state === %q", state))
}

// Text returns the visible text of the element with id.
func (p *Page) Text(id string) string {
	p.T.Helper()
	s, err := Eval[string](p, fmt.Sprintf("document.getElementById(%q).innerText", id))
	if err != nil {
		p.T.Fatalf("%s: reading #%s: %v", p.Name, id, err)
	}
	return strings.TrimSpace(s)
}

// Visible reports whether the element with id is shown.
func (p *Page) Visible(id string) bool {
	p.T.Helper()
	v, err := Eval[bool](p, fmt.Sprintf("(e => !!e && e.checkVisibility())(document.getElementById(%q))", id))
	if err != nil {
		p.T.Fatalf("%s: checking #%s: %v", p.Name, id, err)
	}
	return v
}

// clickAttempts is how often Click clicks an enabled element whose click
// did not arrive.
const clickAttempts = 3

// armClick notes, for the enabled element with the id given, whether a
// click reaches it (or an element inside it); false when there is no such
// element or it is disabled (a click on it arrives nowhere, by design).
const armClick = `((id) => {
	const el = document.getElementById(id);
	if (!el || el.disabled) return false;
	window.__testbrowserClick = { id, seen: false };
	if (!window.__testbrowserClickListener) {
		window.__testbrowserClickListener = true;
		document.addEventListener("click", (e) => {
			const c = window.__testbrowserClick;
			if (c && e.target instanceof Element && e.target.closest("#" + CSS.escape(c.id))) c.seen = true;
		}, true);
	}
	return true;
})(%q)`

// clickArrived says whether the armed click arrived: "yes", "no", or "gone"
// when the click loaded another document.
const clickArrived = `(c => !c ? "gone" : c.seen ? "yes" : "no")(window.__testbrowserClick)`

// Click clicks the element with id like a person would (mouse event at its
// centre), once it is visible. A click that a layout change moved off the
// element (a preview getting its size on a busy machine) is made again.
func (p *Page) Click(id string) {
	p.T.Helper()
	for attempt := 1; ; attempt++ {
		armed, err := Eval[bool](p, fmt.Sprintf(armClick, id))
		if err != nil {
			p.T.Fatalf("%s: before clicking #%s: %v (%s)", p.Name, id, err, p.Describe())
		}
		if err := p.tab.click(id); err != nil {
			p.T.Fatalf("%s: clicking #%s: %v (%s)", p.Name, id, err, p.Describe())
		}
		if !armed || attempt == clickAttempts {
			return
		}
		if arrived, err := Eval[string](p, clickArrived); err != nil || arrived != "no" {
			return
		}
		p.T.Logf("%s: the click on #%s reached another element (did the layout move?); clicking again", p.Name, id)
	}
}

// Type types text into the element with id, key by key.
func (p *Page) Type(id, text string) {
	p.T.Helper()
	if err := p.tab.typeInto(id, text); err != nil {
		p.T.Fatalf("%s: typing into #%s: %v (%s)", p.Name, id, err, p.Describe())
	}
}

// Reload reloads the page and waits until it has loaded.
func (p *Page) Reload() {
	p.T.Helper()
	if err := p.tab.reload(); err != nil {
		p.T.Fatalf("%s: reloading: %v (%s)", p.Name, err, p.Describe())
	}
}

// FramesDecoded sums framesDecoded of the call's inbound video.
func (p *Page) FramesDecoded() int {
	p.T.Helper()
	n, err := Eval[int](p, `(async () => {
		const pc = window.sprechzimmer && window.sprechzimmer.pc;
		if (!pc) return 0;
		let n = 0;
		(await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
		return n;
	})()`)
	if err != nil {
		p.T.Fatalf("%s: reading stats: %v", p.Name, err)
	}
	return n
}

// WaitFrames waits until the call has decoded more than min video frames
// and returns the count.
func (p *Page) WaitFrames(min int) int {
	p.T.Helper()
	deadline := time.Now().Add(WaitLong)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n := p.FramesDecoded()
		if n > min {
			return n
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("%s: no video decoded beyond %d frames (have %d, %s)", p.Name, min, n, p.Describe())
		}
		select {
		case <-tick.C:
		case <-p.tab.done():
			p.T.Fatalf("%s: the tab was closed", p.Name)
		}
	}
}

// Screenshot writes the viewport to docs/screenshots/<name>.png when
// SCREENSHOTS=1, so ordinary runs leave the files alone. Only Chromium
// pages write (the published screenshots are Chromium's); other engines
// do nothing.
func (p *Page) Screenshot(name string) {
	p.T.Helper()
	if os.Getenv("SCREENSHOTS") != "1" || p.Engine == Firefox {
		return
	}
	png, err := p.tab.screenshot()
	if err != nil {
		p.T.Fatalf("%s: screenshot: %v", p.Name, err)
	}
	path := filepath.Join("..", "..", "docs", "screenshots", name+".png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		p.T.Fatalf("writing %s: %v", path, err)
	}
	p.T.Logf("wrote %s", path)
}

// SelectedCandidateTypes returns the local and remote candidate types of
// the call's selected ICE candidate pair ("relay/relay").
func (p *Page) SelectedCandidateTypes() string {
	p.T.Helper()
	s, err := Eval[string](p, `(async () => {
		const stats = await window.sprechzimmer.pc.getStats();
		let pair;
		stats.forEach(r => { if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
		// Firefox has no transport stats: its pair says "selected".
		if (!pair) stats.forEach(r => { if (r.type === "candidate-pair" && r.selected) pair = r; });
		if (!pair) return "none";
		return stats.get(pair.localCandidateId).candidateType + "/" + stats.get(pair.remoteCandidateId).candidateType;
	})()`)
	if err != nil {
		p.T.Fatalf("%s: reading the candidate pair: %v", p.Name, err)
	}
	return s
}

// AssertRelayed checks that p sends its media through its TURN relay: the
// local candidate of the selected pair is a relay candidate. Where both
// pages allow only relays the remote candidate is the other's relay too,
// but a browser that heard the other's checks before its relay candidate
// calls it peer-reflexive, as CI's busy machine showed.
func (p *Page) AssertRelayed() {
	p.T.Helper()
	if got := p.SelectedCandidateTypes(); !strings.HasPrefix(got, "relay/") {
		p.T.Errorf("%s: selected candidate pair %s, want a local relay candidate (through the TURN server)", p.Name, got)
	}
}

// Close closes the tab now, before the test ends.
func (p *Page) Close() { p.tab.close() }

// EnterAsClient ticks both consent boxes of the room page's waiting room,
// types name if given and enters.
func (p *Page) EnterAsClient(name string) {
	p.T.Helper()
	p.WaitState("waiting-room")
	p.Click("terms")
	p.Click("processing")
	if name != "" {
		p.Type("name", name)
	}
	p.Click("enter")
}

// AdmitClient is the therapist letting the waiting client in: it waits
// for the admit button (shown once the client is in the waiting room) and
// clicks it.
func (p *Page) AdmitClient() {
	p.T.Helper()
	p.WaitFor("the client waiting for admission", `(b => !!b && b.checkVisibility())(document.getElementById("admit"))`)
	p.Click("admit")
}

// EnterByKeyboard enters with the keyboard only: focus the button, press
// Enter.
func (p *Page) EnterByKeyboard() {
	p.T.Helper()
	p.WaitState("waiting-room")
	p.WaitFor("the enter button enabled", `!document.getElementById("enter").disabled`)
	if err := p.tab.pressEnter("enter"); err != nil {
		p.T.Fatalf("%s: pressing Enter on the button: %v (%s)", p.Name, err, p.Describe())
	}
}

// AssertVideoFlows checks that p decodes the other person's video and that
// the count keeps growing.
func (p *Page) AssertVideoFlows() {
	p.T.Helper()
	n := p.WaitFrames(0)
	p.WaitFrames(n)
}
