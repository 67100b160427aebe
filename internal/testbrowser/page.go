package testbrowser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Page is one browser tab.
type Page struct {
	// T is the test the tab belongs to; its failures end T.
	T testing.TB
	// Name names the tab in failure messages ("therapist", "client").
	Name string
	// Ctx is the tab's chromedp context.
	Ctx    context.Context
	cancel context.CancelFunc
}

// Option changes a tab before it loads the page.
type Option func(ctx context.Context, t *chromedp.Target) error

// WithLanguages makes navigator.languages report langs (e.g. "en-US,en").
func WithLanguages(langs string) Option {
	return func(ctx context.Context, t *chromedp.Target) error {
		ua, err := chromedp.Evaluate[string]("navigator.userAgent")(ctx, t)
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: langs})
		return err
	}
}

// WithViewport sets the tab's viewport, e.g. a narrow phone.
func WithViewport(width, height int64, mobile bool) Option {
	return func(ctx context.Context, t *chromedp.Target) error {
		opts := []chromedp.EmulateViewportOption{}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
		}
		_, err := chromedp.EmulateViewport(width, height, opts...)(ctx, t)
		return err
	}
}

// Open opens url in a new tab of the browser of browserCtx; the tab closes
// when the test ends.
func Open(t testing.TB, browserCtx context.Context, name, url string, opts ...Option) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	p := &Page{T: t, Name: name, Ctx: ctx, cancel: cancel}
	t.Cleanup(cancel)
	// The first run opens the tab and ties it to its context: no deadline here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s at the end: %s", name, p.Describe())
		}
	})
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate("about:blank")}
	for _, o := range opts {
		steps = append(steps, chromedp.Func(o))
	}
	steps = append(steps, chromedp.Navigate(url))
	if err := p.Do(steps...); err != nil {
		t.Fatalf("%s: opening the page: %v", name, err)
	}
	return p
}

// Do runs actions with a deadline.
func (p *Page) Do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.Ctx, WaitLong)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Must runs actions and fails the test on an error.
func (p *Page) Must(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := p.Do(actions...); err != nil {
		p.T.Fatalf("%s: %s: %v (%s)", p.Name, what, err, p.Describe())
	}
}

// Eval evaluates a JavaScript expression in p (awaiting a promise).
func Eval[T any](p *Page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.Ctx, WaitLong)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// State is the page's call state (body data-state).
func (p *Page) State() string {
	s, err := Eval[string](p, "document.body.dataset.state")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return s
}

// Describe tells the page's state, its peer connection's states and the
// last signaling messages, for failure messages.
func (p *Page) Describe() string {
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		let s = document.body.dataset.state + (document.body.dataset.error ? " / " + document.body.dataset.error : "");
		const pc = window.sprechzimmer && window.sprechzimmer.pc;
		if (pc) s += " (pc " + [pc.signalingState, pc.iceGatheringState, pc.iceConnectionState, pc.connectionState].join(" ") + ")";
		s += " [" + window.sprechzimmer.trace.split(" ").slice(-30).join(" ") + "]";
		return s;
	})()`))
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return s
}

// WaitFor waits until the JavaScript condition is true; the page's own
// MutationObserver-driven polling wakes it on every DOM change.
func (p *Page) WaitFor(what, cond string) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, WaitLong)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingMutation())); err != nil {
		p.T.Fatalf("%s: waiting for %s: %v (%s)", p.Name, what, err, p.Describe())
	}
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

// Click clicks the element with id like a person would (mouse event).
func (p *Page) Click(id string) {
	p.T.Helper()
	p.Must("clicking #"+id, chromedp.Click(chromedp.ID(id), chromedp.NodeVisible))
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
		case <-p.Ctx.Done():
			p.T.Fatalf("%s: %v", p.Name, p.Ctx.Err())
		}
	}
}

// Screenshot writes the viewport to docs/screenshots/<name>.png when
// SCREENSHOTS=1, so ordinary runs leave the files alone.
func (p *Page) Screenshot(name string) {
	p.T.Helper()
	if os.Getenv("SCREENSHOTS") != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(p.Ctx, WaitLong)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.T.Fatalf("%s: screenshot: %v", p.Name, err)
	}
	path := filepath.Join("..", "..", "docs", "screenshots", name+".png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		p.T.Fatalf("writing %s: %v", path, err)
	}
	p.T.Logf("wrote %s", path)
}

// WithRelayOnly makes every RTCPeerConnection of the tab use TURN relays
// only (iceTransportPolicy "relay"), so that the media must cross the TURN
// server.
func WithRelayOnly() Option {
	return func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
			const Native = window.RTCPeerConnection;
			window.RTCPeerConnection = function (config, ...rest) {
				return new Native({ ...(config || {}), iceTransportPolicy: "relay" }, ...rest);
			};
			window.RTCPeerConnection.prototype = Native.prototype;
			Object.setPrototypeOf(window.RTCPeerConnection, Native);
		})()`})
		return err
	}
}

// SelectedCandidateTypes returns the local and remote candidate types of
// the call's selected ICE candidate pair ("relay/relay").
func (p *Page) SelectedCandidateTypes() string {
	p.T.Helper()
	s, err := Eval[string](p, `(async () => {
		const stats = await window.sprechzimmer.pc.getStats();
		let pair;
		stats.forEach(r => { if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
		if (!pair) return "none";
		return stats.get(pair.localCandidateId).candidateType + "/" + stats.get(pair.remoteCandidateId).candidateType;
	})()`)
	if err != nil {
		p.T.Fatalf("%s: reading the candidate pair: %v", p.Name, err)
	}
	return s
}

// Close closes the tab now, before the test ends.
func (p *Page) Close() { p.cancel() }

// EnterAsClient ticks both consent boxes of the room page's waiting room,
// types name if given and enters.
func (p *Page) EnterAsClient(name string) {
	p.T.Helper()
	p.WaitState("waiting-room")
	p.Click("terms")
	p.Click("processing")
	if name != "" {
		p.Must("typing the name", chromedp.SendKeys(chromedp.ID("name"), name))
	}
	p.Click("enter")
}

// EnterByKeyboard enters with the keyboard only: focus the button, press
// Enter.
func (p *Page) EnterByKeyboard() {
	p.T.Helper()
	p.WaitState("waiting-room")
	p.WaitFor("the enter button enabled", `!document.getElementById("enter").disabled`)
	p.Must("pressing Enter on the button", chromedp.Focus(chromedp.ID("enter")), chromedp.KeyEvent(kb.Enter))
}

// AssertVideoFlows checks that p decodes the other person's video and that
// the count keeps growing.
func (p *Page) AssertVideoFlows() {
	p.T.Helper()
	n := p.WaitFrames(0)
	p.WaitFrames(n)
}
