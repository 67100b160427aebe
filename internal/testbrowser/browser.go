// Package testbrowser drives headless browsers for the browser tests:
// Chromium through the DevTools protocol (chromedp) and Firefox through
// WebDriver BiDi (internal/bidi), each with a fake camera and microphone;
// tabs that open a room's page, and the waits and reads the tests make on
// them (call state, decoded frames, the selected ICE candidate pair). A
// test speaks to both engines alike through Page's methods and JavaScript
// (Eval).
package testbrowser

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/bidi"
)

// spkiHash is the base64 SHA-256 of cert's public key, as Chromium's
// --ignore-certificate-errors-spki-list takes it.
func spkiHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Engine is a browser engine the tests can drive.
type Engine string

const (
	// Chromium is Debian's chromium, driven over the DevTools protocol.
	Chromium Engine = "chromium"
	// Firefox is Debian's firefox-esr, driven over WebDriver BiDi.
	Firefox Engine = "firefox"
)

// Engines are all engines, in the order the tests run them.
var Engines = []Engine{Chromium, Firefox}

// WaitLong bounds what takes a browser and WebRTC on a busy 2-core machine.
const WaitLong = 45 * time.Second

// Path is where the engine's browser is: SPRECHZIMMER_CHROMIUM or
// SPRECHZIMMER_FIREFOX, else Debian's path.
func (e Engine) Path() string {
	env, path := "SPRECHZIMMER_CHROMIUM", "/usr/bin/chromium"
	if e == Firefox {
		env, path = "SPRECHZIMMER_FIREFOX", "/usr/bin/firefox-esr"
	}
	if p := os.Getenv(env); p != "" {
		return p
	}
	return path
}

// debianPackage names the package that installs the engine's browser.
func (e Engine) debianPackage() string {
	if e == Firefox {
		return "firefox-esr"
	}
	return "chromium"
}

// Path is Chromium's path (Chromium.Path()).
func Path() string { return Chromium.Path() }

// Require skips t when the browser of an engine (Chromium if none is
// named) is missing, or fails it when CI=true.
func Require(t testing.TB, engines ...Engine) {
	t.Helper()
	if len(engines) == 0 {
		engines = []Engine{Chromium}
	}
	for _, e := range engines {
		path := e.Path()
		if _, err := os.Stat(path); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("no %s at %s (CI=true needs it: apt-get install %s): %v", e, path, e.debianPackage(), err)
			}
			t.Skipf("no %s at %s; install Debian's %s to run the browser tests", e, path, e.debianPackage())
		}
	}
}

// LaunchOptions change how Launch starts the browser.
type LaunchOptions struct {
	// Engine is the browser to start; Chromium if empty.
	Engine Engine
	// FakeUI answers the camera and microphone permission prompt with yes.
	// Without it Chromium asks (and headless, nobody answers) and Firefox
	// refuses.
	FakeUI bool
	// DenyMedia refuses camera and microphone to every page, as a person
	// who clicked "block" would.
	DenyMedia bool
	// SecureOrigins are http origins the browser treats as secure
	// contexts (camera and microphone allowed), e.g. a front door reached
	// by a Service address.
	SecureOrigins []string
	// HostResolverRules maps host names to addresses, in Chromium's
	// --host-resolver-rules syntax ("MAP video.test 10.96.0.80"). Firefox
	// takes MAP rules that all name the same address; to 127.0.0.1 only
	// the names mapped resolve (network.dns.localDomains), to another
	// address every name does (network.dns.forceResolve).
	HostResolverRules string
	// UID, when not 0, runs the browser as this user id (its profile is
	// handed to it), so that a packet filter tells the browser's traffic
	// from the test's own by the sockets' owner (iptables -m owner).
	UID int
	// AcceptCert is a certificate the browser accepts on TLS connections
	// (pages, WebSockets, TURN over TLS) although no authority it knows
	// signed it: the test's own servers'. Chromium accepts exactly this one
	// (by its public key); Firefox, which cannot name one, accepts every
	// certificate (WebDriver's acceptInsecureCerts).
	AcceptCert *x509.Certificate
	// TrustedCAs are PEM certificate files of authorities the browser
	// trusts for HTTPS, besides its own, as if a person had imported
	// them (needs NSS's certutil: Debian's libnss3-tools).
	TrustedCAs []string
}

// Browser is one running browser of an engine.
type Browser struct {
	// Engine is the browser's engine.
	Engine Engine
	// chromium is the chromedp browser context (Chromium).
	chromium context.Context
	// bidi is the BiDi session (Firefox).
	bidi *bidi.Client
}

// Launch starts the engine's browser headless in a fresh profile with a
// fake camera and microphone and WebRTC allowed on loopback. stop ends it
// and removes the profile.
func Launch(o LaunchOptions) (b *Browser, stop func(), err error) {
	switch o.Engine {
	case Chromium, "":
		return launchChromium(o)
	case Firefox:
		return launchFirefox(o)
	}
	return nil, nil, fmt.Errorf("engine %q: want %q or %q", o.Engine, Chromium, Firefox)
}

// ChromiumContext is the chromedp context of a Chromium browser, for
// DevTools calls no other engine has; nil for other engines.
func (b *Browser) ChromiumContext() context.Context {
	if b.Engine == Firefox {
		return nil
	}
	return b.chromium
}
