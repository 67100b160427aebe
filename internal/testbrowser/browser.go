// Package testbrowser drives headless Chromium for the browser tests: a
// browser with a fake camera and microphone, tabs that open a room's page,
// and the waits and reads the tests make on them (call state, decoded
// frames, the selected ICE candidate pair).
package testbrowser

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// defaultChromium is where Debian's chromium package puts the browser.
const defaultChromium = "/usr/bin/chromium"

// WaitLong bounds what takes a browser and WebRTC on a busy 2-core machine.
const WaitLong = 45 * time.Second

// Path is SPRECHZIMMER_CHROMIUM or Debian's path.
func Path() string {
	if p := os.Getenv("SPRECHZIMMER_CHROMIUM"); p != "" {
		return p
	}
	return defaultChromium
}

// Require skips t when there is no browser, or fails it when CI=true.
func Require(t testing.TB) {
	t.Helper()
	path := Path()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser at %s (CI=true needs it: apt-get install chromium): %v", path, err)
		}
		t.Skipf("no browser at %s; install Debian's chromium to run the browser tests", path)
	}
}

// LaunchOptions change how Launch starts the browser.
type LaunchOptions struct {
	// FakeUI answers the camera and microphone permission prompt with yes;
	// without it the page gets what the permission settings say.
	FakeUI bool
	// SecureOrigins are http origins the browser treats as secure
	// contexts (camera and microphone allowed), e.g. a front door reached
	// by a Service address.
	SecureOrigins []string
	// HostResolverRules maps host names to addresses, in Chromium's
	// --host-resolver-rules syntax ("MAP video.test 10.96.0.80").
	HostResolverRules string
}

// Launch starts headless Chromium in a fresh profile with a fake camera
// and microphone and WebRTC allowed on loopback. cancel ends it and removes
// the profile.
func Launch(o LaunchOptions) (ctx context.Context, cancel context.CancelFunc, err error) {
	dir, err := os.MkdirTemp("", "sprechzimmer-e2e-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path()),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", o.FakeUI),
		// Both browsers and the echo peer may live on 127.0.0.1 only.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Real host addresses instead of mDNS names, which need multicast.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("lang", "de-DE"),
		chromedp.Flag("accept-lang", "de-DE,de"),
	)
	if len(o.SecureOrigins) > 0 {
		origins := ""
		for i, s := range o.SecureOrigins {
			if i > 0 {
				origins += ","
			}
			origins += s
		}
		opts = append(opts, chromedp.Flag("unsafely-treat-insecure-origin-as-secure", origins))
	}
	if o.HostResolverRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", o.HostResolverRules))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	cancel = func() {
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
