package testbrowser

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// launchChromium starts headless Chromium (see Launch).
func launchChromium(o LaunchOptions) (*Browser, func(), error) {
	dir, err := tempProfile(Chromium)
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium.Path()),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", o.FakeUI && !o.DenyMedia),
		// Both browsers and the echo peer may live on 127.0.0.1 only.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Real host addresses instead of mDNS names, which need multicast.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("lang", "de-DE"),
		chromedp.Flag("accept-lang", "de-DE,de"),
	)
	if len(o.SecureOrigins) > 0 {
		opts = append(opts, chromedp.Flag("unsafely-treat-insecure-origin-as-secure", strings.Join(o.SecureOrigins, ",")))
	}
	if o.HostResolverRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", o.HostResolverRules))
	}
	if len(o.TrustedCAs) > 0 {
		// Chromium on Linux reads the authorities a person added from
		// $HOME/.pki/nssdb: a home of the profile's own.
		if err := trustCAs(filepath.Join(dir, ".pki", "nssdb"), o.TrustedCAs); err != nil {
			removeProfile(dir)
			return nil, nil, err
		}
	}
	if len(o.TrustedCAs) > 0 || o.UID != 0 {
		opts = append(opts, chromedp.Env("HOME="+dir))
	}
	if o.AcceptCert != nil {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(o.AcceptCert)))
	}
	if o.UID != 0 {
		if err := handProfile(dir, o.UID); err != nil {
			removeProfile(dir)
			return nil, nil, err
		}
		opts = append(opts, chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// What chromedp's own function does: the browser dies with the test.
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			runAs(cmd.SysProcAttr, o.UID)
		}))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	stop := func() {
		cancelCtx()
		cancelAlloc()
		removeProfile(dir)
	}
	if err := chromedp.Do(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	if o.DenyMedia {
		for _, name := range []string{"camera", "microphone"} {
			// No origin: every origin.
			_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name},
				Setting:    browser.PermissionSettingDenied,
			})
			if err != nil {
				stop()
				return nil, nil, fmt.Errorf("denying %s: %w", name, err)
			}
		}
	}
	return &Browser{Engine: Chromium, chromium: ctx}, stop, nil
}

// chromiumMobileUA is the user agent of a phone's Chromium, for WithViewport
// with mobile set.
const chromiumMobileUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36"

// chromiumTab is a Chromium tab.
type chromiumTab struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// openChromium opens a tab, applies o to it and loads url.
func openChromium(b *Browser, url string, o tabOptions) (*chromiumTab, error) {
	ctx, cancel := chromedp.NewContext(b.chromium)
	tab := &chromiumTab{ctx: ctx, cancel: cancel}
	// The first run opens the tab and ties it to its context: no deadline here.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("opening a tab: %w", err)
	}
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate("about:blank")}
	mobile := o.viewport != nil && o.viewport.mobile
	if o.languages != "" || mobile {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			ua, err := chromedp.Evaluate[string]("navigator.userAgent")(ctx, t)
			if err != nil {
				return err
			}
			if mobile {
				// A phone's browser says so in its user agent, as pages check.
				ua = chromiumMobileUA
			}
			_, err = cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: o.languages})
			return err
		}))
	}
	if v := o.viewport; v != nil {
		vo := []chromedp.EmulateViewportOption{}
		if v.mobile {
			vo = append(vo, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
		}
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.EmulateViewport(v.width, v.height, vo...)(ctx, t)
			return err
		}))
	}
	for _, js := range o.scripts {
		steps = append(steps, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: "(() => {\n" + js + "\n})()"})
			return err
		}))
	}
	steps = append(steps, chromedp.Navigate(url))
	if err := tab.run(steps...); err != nil {
		cancel()
		return nil, err
	}
	return tab, nil
}

// run runs actions with a deadline.
func (c *chromiumTab) run(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(c.ctx, WaitLong)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func (c *chromiumTab) eval(ctx context.Context, expr string) ([]byte, error) {
	ctx, cancel := mergeDone(ctx, c.ctx)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
}

func (c *chromiumTab) click(id string) error {
	return c.run(chromedp.Click(chromedp.ID(id), chromedp.NodeVisible))
}

func (c *chromiumTab) typeInto(id, text string) error {
	return c.run(chromedp.SendKeys(chromedp.ID(id), text))
}

func (c *chromiumTab) pressEnter(id string) error {
	return c.run(chromedp.Focus(chromedp.ID(id)), chromedp.KeyEvent(kb.Enter))
}

func (c *chromiumTab) reload() error { return c.run(chromedp.Reload()) }

func (c *chromiumTab) screenshot() ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, WaitLong)
	defer cancel()
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}

func (c *chromiumTab) close() { c.cancel() }

func (c *chromiumTab) done() <-chan struct{} { return c.ctx.Done() }

// mergeDone is ctx, also cancelled when other is.
func mergeDone(ctx, other context.Context) (context.Context, context.CancelFunc) {
	merged, cancel := context.WithCancel(other)
	stop := context.AfterFunc(ctx, cancel)
	if dl, ok := ctx.Deadline(); ok {
		var cancelDL context.CancelFunc
		merged, cancelDL = context.WithDeadline(merged, dl)
		return merged, func() { stop(); cancelDL(); cancel() }
	}
	return merged, func() { stop(); cancel() }
}
