package e2e

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

func TestMain(m *testing.M) {
	if code, ran := inOwnNetwork(); ran {
		os.Exit(code)
	}
	if err := setUpNetwork(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	// The API clients of the tests log errors only; unset, controller-runtime
	// prints a stack trace saying so.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	code := m.Run()
	stopBrowsers()
	os.Exit(code)
}

// reportTo makes pages, opened by a test, report their failures to t, one
// of its subtests, until t ends (testbrowser.Page.ReportTo).
func reportTo(t testing.TB, pages ...*page) {
	for _, p := range pages {
		p.ReportTo(t)
	}
}

// engine is a browser engine; the tests run in each (forEachEngine).
type engine = testbrowser.Engine

const (
	chromium = testbrowser.Chromium
	firefox  = testbrowser.Firefox
)

// sharedBrowser is the one browser of an engine that all tests open their
// tabs in, started on first use.
type sharedBrowser struct {
	once    sync.Once
	browser *testbrowser.Browser
	stop    func()
	err     error
}

var shared = map[engine]*sharedBrowser{chromium: {}, firefox: {}}

// firewalled are the browsers behind the tests' packet filter
// (only443_linux_test.go), started on first use.
var firewalled = map[engine]*sharedBrowser{chromium: {}, firefox: {}}

// atExit runs when the tests end, after the browsers stopped.
var atExit []func()

// needBrowser returns the shared browser of the engine t runs in (see
// forEachEngine). Without that browser the test is skipped, or fails when
// CI=true.
func needBrowser(t testing.TB) *testbrowser.Browser {
	t.Helper()
	return needBrowserOf(t, engineOf(t))
}

// needBrowserOf is needBrowser for engine e.
func needBrowserOf(t testing.TB, e engine) *testbrowser.Browser {
	t.Helper()
	testbrowser.Require(t, e)
	s := shared[e]
	s.once.Do(func() {
		s.browser, s.stop, s.err = testbrowser.Launch(testbrowser.LaunchOptions{Engine: e, FakeUI: true})
	})
	if s.err != nil {
		t.Fatalf("starting %s: %v", e, s.err)
	}
	return s.browser
}

// stopBrowsers ends the shared and firewalled browsers that were
// started, then runs atExit.
func stopBrowsers() {
	for _, browsers := range []map[engine]*sharedBrowser{shared, firewalled} {
		for _, s := range browsers {
			if s.stop != nil {
				s.stop()
			}
		}
	}
	for _, f := range atExit {
		f()
	}
}

// engines records which engine a test (and its subtests) runs in, by the
// test's full name.
var engines sync.Map

// forEachEngine runs f as a subtest per engine (named after it); pages
// that f or its subtests open with openPage are of that engine.
func forEachEngine(t *testing.T, f func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range testbrowser.Engines {
		t.Run(string(e), func(t *testing.T) {
			engines.Store(t.Name(), e)
			f(t, e)
		})
	}
}

// engineOf is the engine forEachEngine gave t or a test above it;
// Chromium outside forEachEngine.
func engineOf(t testing.TB) engine {
	for name := t.Name(); name != ""; {
		if e, ok := engines.Load(name); ok {
			return e.(engine)
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[:i]
	}
	return chromium
}

// page is one browser tab; pageOption changes it before it loads.
type (
	page       = testbrowser.Page
	pageOption = testbrowser.Option
)

// waitLong bounds what takes a browser and WebRTC on a busy machine.
const waitLong = testbrowser.WaitLong

// openPage opens url in a new tab of the shared browser of t's engine;
// the tab closes when the test ends.
func openPage(t testing.TB, name, url string, opts ...pageOption) *page {
	t.Helper()
	return testbrowser.Open(t, needBrowser(t), name, url, opts...)
}

// openPageIn opens url in a new tab of the shared browser of engine e, for
// a test with both engines at once.
func openPageIn(t testing.TB, e engine, name, url string, opts ...pageOption) *page {
	t.Helper()
	return testbrowser.Open(t, needBrowserOf(t, e), name, url, opts...)
}
