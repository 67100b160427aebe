package testbrowser

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/bidi"
)

// firefoxPrefs are the user.js preferences of every test profile.
var firefoxPrefs = map[string]any{
	// A fake camera (moving colours) and microphone (a tone).
	"media.navigator.streams.fake": true,
	// Host candidates on 127.0.0.1 (the tests' network namespace has only
	// lo), as real addresses rather than mDNS names.
	"media.peerconnection.ice.loopback":                   true,
	"media.peerconnection.ice.obfuscate_host_addresses":   false,
	"media.peerconnection.ice.default_address_only":       false,
	"media.peerconnection.ice.proxy_only_if_behind_proxy": true,
	// A network namespace with only lo has no route: Firefox would call
	// itself offline and gather no ICE candidates at all.
	"network.manage-offline-status": false,
	// Sound and video play without a click, as Chromium's
	// --autoplay-policy=no-user-gesture-required.
	"media.autoplay.default":         0,
	"media.autoplay.blocking_policy": 0,
	"media.autoplay.block-webaudio":  false,
	// Firefox's Web Audio runs on the clock of an audio output; on a
	// machine without one (no sound card, no sound server) an AudioContext
	// stays "suspended" for ever and resume() never settles, so nothing
	// reads the microphone (a dead level meter). Chromium falls back to a
	// fake output by itself; Firefox's mock audio backend does the same.
	"media.cubeb.force_mock_context": true,
	// A German browser, as the Chromium side (--lang de-DE).
	"intl.accept_languages": "de-DE,de",
	"intl.locale.requested": "de-DE",
	// Nothing that phones home or shows a first-run page.
	"browser.shell.checkDefaultBrowser":          false,
	"datareporting.policy.dataSubmissionEnabled": false,
	"toolkit.telemetry.reportingpolicy.firstRun": false,
	"app.update.disabledForTesting":              true,
	"browser.startup.homepage_override.mstone":   "ignore",
	"services.settings.server":                   "data:,#remote-settings-off",
	"network.captive-portal-service.enabled":     false,
	"network.connectivity-service.enabled":       false,
}

// firefoxMobileUA is the user agent of Firefox for Android, for phone
// emulation.
const firefoxMobileUA = "Mozilla/5.0 (Android 14; Mobile; rv:153.0) Gecko/153.0 Firefox/153.0"

// launchWait bounds Firefox's start until its BiDi session is ready.
const launchWait = 4 * WaitLong

// listening is Firefox's line on stderr that names the BiDi endpoint.
var listening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// launchFirefox starts headless Firefox ESR with a BiDi endpoint (see
// Launch).
func launchFirefox(o LaunchOptions) (*Browser, func(), error) {
	dir, err := tempProfile(Firefox)
	if err != nil {
		return nil, nil, err
	}
	prefs, err := firefoxLaunchPrefs(o)
	if err != nil {
		removeProfile(dir)
		return nil, nil, err
	}
	if err := writeUserJS(filepath.Join(dir, "user.js"), prefs); err != nil {
		removeProfile(dir)
		return nil, nil, err
	}
	if len(o.TrustedCAs) > 0 {
		if err := trustCAs(dir, o.TrustedCAs); err != nil {
			removeProfile(dir)
			return nil, nil, err
		}
	}
	if o.UID != 0 {
		if err := handProfile(dir, o.UID); err != nil {
			removeProfile(dir)
			return nil, nil, err
		}
	}
	ctx, cancelCmd := context.WithCancel(context.Background())
	// --remote-allow-system-access lets Browser.SetPermission reach the
	// parent process's permission manager; pages get no more rights.
	cmd := exec.CommandContext(ctx, Firefox.Path(), "--headless", "--no-remote", "--remote-debugging-port=0", "--remote-allow-system-access", "--profile", dir, "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_HEADLESS=1", "MOZ_CRASHREPORTER_DISABLE=1")
	// Its own process group, so stop ends the content processes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if o.UID != 0 {
		runAs(cmd.SysProcAttr, o.UID)
		cmd.Env = append(cmd.Env, "HOME="+dir)
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancelCmd()
		removeProfile(dir)
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		cancelCmd()
		removeProfile(dir)
		return nil, nil, fmt.Errorf("starting %s: %w", Firefox.Path(), err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cancelCmd()
		<-exited
		removeProfile(dir)
	}
	endpoint, err := readEndpoint(stderr, exited)
	if err != nil {
		stop()
		return nil, nil, err
	}
	// Starting takes half a minute on a busy 2-core machine, minutes
	// when seven others share it.
	dialCtx, cancel := context.WithTimeout(context.Background(), launchWait)
	defer cancel()
	capabilities := map[string]any{}
	if o.AcceptCert != nil {
		capabilities["alwaysMatch"] = map[string]any{"acceptInsecureCerts": true}
	}
	client, err := bidi.DialWith(dialCtx, strings.TrimSuffix(endpoint, "/")+"/session", capabilities)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return &Browser{Engine: Firefox, bidi: client}, func() { _ = client.Close(); stop() }, nil
}

// firefoxLaunchPrefs are firefoxPrefs with what o asks for.
func firefoxLaunchPrefs(o LaunchOptions) (map[string]any, error) {
	prefs := map[string]any{}
	for k, v := range firefoxPrefs {
		prefs[k] = v
	}
	switch {
	case o.DenyMedia:
		// 2 is "block", as a person's choice remembered for every site.
		prefs["media.navigator.permission.disabled"] = false
		prefs["permissions.default.camera"] = 2
		prefs["permissions.default.microphone"] = 2
	case o.FakeUI:
		prefs["media.navigator.permission.disabled"] = true
	default:
		// Headless, nobody would answer the prompt.
		prefs["media.navigator.permission.disabled"] = false
		prefs["permissions.default.camera"] = 2
		prefs["permissions.default.microphone"] = 2
	}
	if len(o.SecureOrigins) > 0 {
		hosts := make([]string, 0, len(o.SecureOrigins))
		for _, origin := range o.SecureOrigins {
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("SecureOrigins: %q is not an origin like http://host", origin)
			}
			hosts = append(hosts, u.Hostname())
		}
		prefs["dom.securecontext.allowlist"] = strings.Join(hosts, ",")
	}
	if o.HostResolverRules != "" {
		addr, err := singleMapAddress(o.HostResolverRules)
		if err != nil {
			return nil, err
		}
		if addr == "127.0.0.1" {
			// Just these names resolve to loopback; IP literals stay.
			prefs["network.dns.localDomains"] = strings.Join(mappedHosts(o.HostResolverRules), ",")
		} else {
			// Every name resolves to addr (Firefox has no per-host rule).
			prefs["network.dns.forceResolve"] = addr
		}
	}
	return prefs, nil
}

// mappedHosts are the host names of MAP rules (checked by
// singleMapAddress).
func mappedHosts(rules string) []string {
	var hosts []string
	for _, rule := range strings.Split(rules, ",") {
		hosts = append(hosts, strings.Fields(rule)[1])
	}
	return hosts
}

// singleMapAddress is the one address the MAP rules name.
func singleMapAddress(rules string) (string, error) {
	addr := ""
	for _, rule := range strings.Split(rules, ",") {
		f := strings.Fields(rule)
		if len(f) != 3 || f[0] != "MAP" {
			return "", fmt.Errorf("HostResolverRules: Firefox takes only rules like \"MAP host address\", not %q", rule)
		}
		if addr != "" && f[2] != addr {
			return "", fmt.Errorf("HostResolverRules: Firefox maps every name to one address, but the rules name %s and %s", addr, f[2])
		}
		addr = f[2]
	}
	return addr, nil
}

// writeUserJS writes prefs as a Firefox user.js.
func writeUserJS(path string, prefs map[string]any) error {
	var b strings.Builder
	for k, v := range prefs {
		value, err := json.Marshal(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "user_pref(%q, %s);\n", k, value)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// readEndpoint reads Firefox's stderr until it names its BiDi endpoint,
// then discards the rest.
func readEndpoint(stderr io.Reader, exited <-chan struct{}) (string, error) {
	found := make(chan string, 1)
	var last []string
	lines := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil {
				found <- m[1]
				break
			}
			last = append(last, line)
			if len(last) > 20 {
				last = last[1:]
			}
		}
		lines <- last
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case ep := <-found:
		return ep, nil
	case <-exited:
		return "", fmt.Errorf("firefox exited before listening for WebDriver BiDi: %s", strings.Join(<-lines, " | "))
	case <-time.After(launchWait):
		return "", errors.New("firefox named no WebDriver BiDi endpoint within " + launchWait.String())
	}
}

// firefoxTab is a Firefox tab (a BiDi browsing context).
type firefoxTab struct {
	client  *bidi.Client
	id      string
	closed  chan struct{}
	closing sync.Once
}

// openFirefox opens a tab, applies o to it and loads url.
func openFirefox(b *Browser, url string, o tabOptions) (*firefoxTab, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*WaitLong)
	defer cancel()
	id, err := b.bidi.CreateTab(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening a tab: %w", err)
	}
	tab := &firefoxTab{client: b.bidi, id: id, closed: make(chan struct{})}
	scripts := o.scripts
	if o.languages != "" {
		// Firefox takes its languages from a browser-wide preference; a
		// tab of its own gets them from a script before the page's.
		langs, _ := json.Marshal(strings.Split(o.languages, ","))
		scripts = append([]string{fmt.Sprintf(`const langs = Object.freeze(%s);
			Object.defineProperty(Navigator.prototype, "languages", { get: () => langs, configurable: true });
			Object.defineProperty(Navigator.prototype, "language", { get: () => langs[0], configurable: true });`, langs)}, scripts...)
	}
	if v := o.viewport; v != nil {
		dpr := 1.0
		if v.mobile {
			dpr = 2
		}
		if err := b.bidi.SetViewport(ctx, id, v.width, v.height, dpr); err != nil {
			tab.close()
			return nil, err
		}
		if v.mobile {
			if err := b.bidi.SetUserAgent(ctx, id, firefoxMobileUA); err != nil {
				tab.close()
				return nil, err
			}
		}
	}
	for _, js := range scripts {
		if err := b.bidi.AddPreloadScript(ctx, id, js); err != nil {
			tab.close()
			return nil, err
		}
	}
	if err := b.bidi.Navigate(ctx, id, url); err != nil {
		tab.close()
		return nil, err
	}
	return tab, nil
}

// evalJSON wraps expr so that the page returns its awaited value as JSON
// (BiDi would otherwise serialize it as typed remote values).
const evalJSON = `(async () => { const v = await (%s); return v === undefined ? undefined : JSON.stringify(v); })()`

func (f *firefoxTab) eval(ctx context.Context, expr string) ([]byte, error) {
	v, err := f.client.Evaluate(ctx, f.id, fmt.Sprintf(evalJSON, expr))
	if err != nil {
		return nil, err
	}
	s, ok := v.Value.(string)
	if v.Type != "string" || !ok {
		return nil, nil // undefined
	}
	return []byte(s), nil
}

// node returns the shared id of the element with id once it is visible,
// scrolled into view.
func (f *firefoxTab) node(ctx context.Context, id string) (string, error) {
	for {
		v, err := f.client.Evaluate(ctx, f.id, fmt.Sprintf(`(e => {
			if (!e || !e.checkVisibility()) return null;
			e.scrollIntoView({ block: "center" });
			return e;
		})(document.getElementById(%q))`, id))
		if err != nil {
			return "", err
		}
		if v.Type == "node" {
			return v.SharedID, nil
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return "", fmt.Errorf("#%s not visible: %w", id, ctx.Err())
		}
	}
}

func (f *firefoxTab) click(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	node, err := f.node(ctx, id)
	if err != nil {
		return err
	}
	return f.client.Click(ctx, f.id, node)
}

// focusAndType focuses the element with id and presses keys. The tab comes
// to the front first: of two tabs in one Firefox, keys pressed in the one
// behind reach no element.
func (f *firefoxTab) focusAndType(id, keys string) error {
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	if _, err := f.node(ctx, id); err != nil {
		return err
	}
	if err := f.client.Activate(ctx, f.id); err != nil {
		return fmt.Errorf("bringing the tab to the front: %w", err)
	}
	if _, err := f.client.Evaluate(ctx, f.id, fmt.Sprintf(`document.getElementById(%q).focus()`, id)); err != nil {
		return err
	}
	return f.client.Type(ctx, f.id, keys)
}

func (f *firefoxTab) typeInto(id, text string) error { return f.focusAndType(id, text) }

func (f *firefoxTab) pressEnter(id string) error { return f.focusAndType(id, bidi.Enter) }

func (f *firefoxTab) reload() error {
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	return f.client.Reload(ctx, f.id)
}

func (f *firefoxTab) screenshot() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
	defer cancel()
	return f.client.Screenshot(ctx, f.id)
}

func (f *firefoxTab) close() {
	f.closing.Do(func() {
		close(f.closed)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = f.client.CloseTab(ctx, f.id)
	})
}

func (f *firefoxTab) done() <-chan struct{} { return f.closed }
