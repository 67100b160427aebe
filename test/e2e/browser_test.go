package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// defaultChromium is where Debian's chromium package puts the browser.
const defaultChromium = "/usr/bin/chromium"

// waitLong bounds what takes a browser and WebRTC on a busy 2-core machine.
const waitLong = 45 * time.Second

func TestMain(m *testing.M) {
	if code, ran := inOwnNetwork(); ran {
		os.Exit(code)
	}
	if err := setUpNetwork(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	stopBrowser()
	os.Exit(code)
}

// shared is the one Chromium all tests open their tabs in.
var shared struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// chromiumPath is SPRECHZIMMER_CHROMIUM or Debian's path.
func chromiumPath() string {
	if p := os.Getenv("SPRECHZIMMER_CHROMIUM"); p != "" {
		return p
	}
	return defaultChromium
}

// needBrowser returns the shared browser's context. Without a browser the
// test is skipped, or fails when CI=true.
func needBrowser(t testing.TB) context.Context {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser at %s (CI=true needs it: apt-get install chromium): %v", path, err)
		}
		t.Skipf("no browser at %s; install Debian's chromium to run the browser tests", path)
	}
	shared.once.Do(startBrowser)
	if shared.err != nil {
		t.Fatalf("starting chromium: %v", shared.err)
	}
	return shared.ctx
}

// startBrowser starts the shared browser.
func startBrowser() {
	shared.ctx, shared.cancel, shared.err = launchBrowser(true)
}

// launchBrowser starts headless Chromium in a fresh profile with a fake
// camera and microphone and WebRTC allowed on loopback. With fakeUI the
// permission prompt for them is answered yes; without it the page gets
// what the permission settings say.
func launchBrowser(fakeUI bool) (context.Context, context.CancelFunc, error) {
	dir, err := os.MkdirTemp("", "sprechzimmer-e2e-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath()),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", fakeUI),
		// Both browsers and the echo peer live on 127.0.0.1 only.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Real host addresses instead of mDNS names, which need multicast.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("lang", "de-DE"),
		chromedp.Flag("accept-lang", "de-DE,de"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	cancel := func() {
		cancelCtx()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return ctx, cancel, nil
}

// stopBrowser ends the shared browser, if one was started.
func stopBrowser() {
	if shared.cancel != nil {
		shared.cancel()
	}
}

// page is one browser tab.
type page struct {
	t      testing.TB
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// pageOption changes a tab before it loads the page.
type pageOption func(ctx context.Context, t *chromedp.Target) error

// withLanguages makes navigator.languages report langs (e.g. "en-US,en").
func withLanguages(langs string) pageOption {
	return func(ctx context.Context, t *chromedp.Target) error {
		ua, err := chromedp.Evaluate[string]("navigator.userAgent")(ctx, t)
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: langs})
		return err
	}
}

// withViewport sets the tab's viewport, e.g. a narrow phone.
func withViewport(width, height int64, mobile bool) pageOption {
	return func(ctx context.Context, t *chromedp.Target) error {
		opts := []chromedp.EmulateViewportOption{}
		if mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
		}
		_, err := chromedp.EmulateViewport(width, height, opts...)(ctx, t)
		return err
	}
}

// openPage opens url in a new tab of the shared browser; the tab closes
// when the test ends.
func openPage(t testing.TB, name, url string, opts ...pageOption) *page {
	t.Helper()
	return openPageIn(t, needBrowser(t), name, url, opts...)
}

// openPageIn opens url in a new tab of the browser of browserCtx.
func openPageIn(t testing.TB, browserCtx context.Context, name, url string, opts ...pageOption) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	p := &page{t: t, name: name, ctx: ctx, cancel: cancel}
	t.Cleanup(cancel)
	// The first run opens the tab and ties it to its context: no deadline here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s at the end: %s", name, p.describe())
		}
	})
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate("about:blank")}
	for _, o := range opts {
		steps = append(steps, chromedp.Func(o))
	}
	steps = append(steps, chromedp.Navigate(url))
	if err := p.do(steps...); err != nil {
		t.Fatalf("%s: opening the page: %v", name, err)
	}
	return p
}

// do runs actions with a deadline.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// must runs actions and fails the test on an error.
func (p *page) must(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := p.do(actions...); err != nil {
		p.t.Fatalf("%s: %s: %v (%s)", p.name, what, err, p.describe())
	}
}

// eval evaluates a JavaScript expression in p (awaiting a promise).
func eval[T any](p *page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// state is the page's call state (body data-state).
func (p *page) state() string {
	s, err := eval[string](p, "document.body.dataset.state")
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return s
}

// describe tells the page's state, its peer connection's states and the
// last signaling messages, for failure messages.
func (p *page) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
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

// waitFor waits until the JavaScript condition is true; the page's own
// MutationObserver-driven polling wakes it on every DOM change.
func (p *page) waitFor(what, cond string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingMutation())); err != nil {
		p.t.Fatalf("%s: waiting for %s: %v (%s)", p.name, what, err, p.describe())
	}
}

// waitState waits until the page is in state.
func (p *page) waitState(state string) {
	p.t.Helper()
	p.waitFor("state "+state, fmt.Sprintf("document.body.dataset.state === %q", state))
}

// text returns the visible text of the element with id.
func (p *page) text(id string) string {
	p.t.Helper()
	s, err := eval[string](p, fmt.Sprintf("document.getElementById(%q).innerText", id))
	if err != nil {
		p.t.Fatalf("%s: reading #%s: %v", p.name, id, err)
	}
	return strings.TrimSpace(s)
}

// visible reports whether the element with id is shown.
func (p *page) visible(id string) bool {
	p.t.Helper()
	v, err := eval[bool](p, fmt.Sprintf("(e => !!e && e.checkVisibility())(document.getElementById(%q))", id))
	if err != nil {
		p.t.Fatalf("%s: checking #%s: %v", p.name, id, err)
	}
	return v
}

// click clicks the element with id like a person would (mouse event).
func (p *page) click(id string) {
	p.t.Helper()
	p.must("clicking #"+id, chromedp.Click(chromedp.ID(id), chromedp.NodeVisible))
}

// framesDecoded sums framesDecoded of the call's inbound video.
func (p *page) framesDecoded() int {
	p.t.Helper()
	n, err := eval[int](p, `(async () => {
		const pc = window.sprechzimmer && window.sprechzimmer.pc;
		if (!pc) return 0;
		let n = 0;
		(await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
		return n;
	})()`)
	if err != nil {
		p.t.Fatalf("%s: reading stats: %v", p.name, err)
	}
	return n
}

// waitFrames waits until the call has decoded more than min video frames
// and returns the count.
func (p *page) waitFrames(min int) int {
	p.t.Helper()
	deadline := time.Now().Add(waitLong)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		n := p.framesDecoded()
		if n > min {
			return n
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no video decoded beyond %d frames (have %d, %s)", p.name, min, n, p.describe())
		}
		select {
		case <-tick.C:
		case <-p.ctx.Done():
			p.t.Fatalf("%s: %v", p.name, p.ctx.Err())
		}
	}
}

// screenshot writes the viewport to docs/screenshots/<name>.png when
// SCREENSHOTS=1, so ordinary runs leave the files alone.
func (p *page) screenshot(name string) {
	p.t.Helper()
	if os.Getenv("SCREENSHOTS") != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	path := filepath.Join("..", "..", "docs", "screenshots", name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("writing %s: %v", path, err)
	}
	p.t.Logf("wrote %s", path)
}
