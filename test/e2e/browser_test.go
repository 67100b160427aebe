package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

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

// needBrowser returns the shared browser's context. Without a browser the
// test is skipped, or fails when CI=true.
func needBrowser(t testing.TB) context.Context {
	t.Helper()
	testbrowser.Require(t)
	shared.once.Do(startBrowser)
	if shared.err != nil {
		t.Fatalf("starting chromium: %v", shared.err)
	}
	return shared.ctx
}

// startBrowser starts the shared browser.
func startBrowser() {
	shared.ctx, shared.cancel, shared.err = testbrowser.Launch(testbrowser.LaunchOptions{FakeUI: true})
}

// stopBrowser ends the shared browser, if one was started.
func stopBrowser() {
	if shared.cancel != nil {
		shared.cancel()
	}
}

// page is one browser tab; pageOption changes it before it loads.
type (
	page       = testbrowser.Page
	pageOption = testbrowser.Option
)

// waitLong bounds what takes a browser and WebRTC on a busy machine.
const waitLong = testbrowser.WaitLong

// openPage opens url in a new tab of the shared browser; the tab closes
// when the test ends.
func openPage(t testing.TB, name, url string, opts ...pageOption) *page {
	t.Helper()
	return testbrowser.Open(t, needBrowser(t), name, url, opts...)
}
