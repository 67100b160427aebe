package testbrowser

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// Permission is a browser permission a test sets for an origin.
type Permission string

const (
	// Camera is the permission to open a camera (getUserMedia video).
	Camera Permission = "camera"
	// Microphone is the permission to open a microphone (getUserMedia audio).
	Microphone Permission = "microphone"
)

// SetPermission sets what the browser answers origin (e.g.
// "http://127.0.0.1:8080") when a page asks for p: granted or not, as a
// person's remembered choice would. Chromium takes it over the DevTools
// protocol (Browser.setPermission). Firefox's WebDriver BiDi refuses
// camera and microphone in permissions.setPermission ("currently
// unsupported"), so there it is a site permission set in the browser's
// parent process, as the prompt's "remember" does. It works in a browser
// launched without FakeUI, which would answer every prompt with yes.
func (b *Browser) SetPermission(origin string, p Permission, granted bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	if b.Engine == Firefox {
		return b.setFirefoxPermission(ctx, origin, p, granted)
	}
	setting := browser.PermissionSettingDenied
	if granted {
		setting = browser.PermissionSettingGranted
	}
	ctx, cancelMerged := mergeDone(ctx, b.chromium)
	defer cancelMerged()
	_, err := cdp.Call(ctx, chromedp.FromContext(b.chromium).Browser, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: string(p)},
		Setting:    setting,
		Origin:     origin,
	})
	if err != nil {
		return fmt.Errorf("setting %s to %s: %w", p, setting, err)
	}
	return nil
}

// setFirefoxPermission adds a site permission for origin through the
// parent process's permission manager (launchFirefox allows that access).
func (b *Browser) setFirefoxPermission(ctx context.Context, origin string, p Permission, granted bool) error {
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
			URL     string `json:"url"`
		} `json:"contexts"`
	}
	if err := b.bidi.Call(ctx, "browsingContext.getTree", map[string]any{"moz:scope": "chrome"}, &tree); err != nil {
		return fmt.Errorf("finding the browser window: %w", err)
	}
	window := ""
	for _, c := range tree.Contexts {
		if c.URL == "chrome://browser/content/browser.xhtml" {
			window = c.Context
		}
	}
	if window == "" {
		return fmt.Errorf("setting %s: no browser window among %d chrome contexts", p, len(tree.Contexts))
	}
	action := "DENY_ACTION"
	if granted {
		action = "ALLOW_ACTION"
	}
	_, err := b.bidi.Evaluate(ctx, window, fmt.Sprintf(`(() => {
		const principal = Services.scriptSecurityManager.createContentPrincipalFromOrigin(%q);
		Services.perms.addFromPrincipal(principal, %q, Services.perms.%s);
		return true;
	})()`, origin, string(p), action))
	if err != nil {
		return fmt.Errorf("setting %s to %s: %w", p, action, err)
	}
	return nil
}
