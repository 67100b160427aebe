package e2e

import (
	"net/http"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// withViolationLog makes the page collect the Content-Security-Policy
// violations it causes in window.cspViolations ("directive blocked-uri"),
// from before its first script runs. The browser's driver adds the
// listener, so the policy does not stop it.
func withViolationLog() pageOption {
	return testbrowser.WithInitScript(`
		window.cspViolations = [];
		document.addEventListener("securitypolicyviolation", (e) => {
			window.cspViolations.push(e.effectiveDirective + " " + e.blockedURI);
		});`)
}

// TestPageWorksUnderItsContentSecurityPolicy enters the room (page,
// scripts, styles, WebSocket) under the server's policy without a single
// violation, and shows that the policy is enforced: an inline script and
// an inline style added to the page are refused.
func TestPageWorksUnderItsContentSecurityPolicy(t *testing.T) {
	forEachEngine(t, testPageWorksUnderItsContentSecurityPolicy)
}

func testPageWorksUnderItsContentSecurityPolicy(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	resp, err := http.Get(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("the page has no Content-Security-Policy")
	}

	client := openPage(t, "client", r.Link(r.Client), withViolationLog())
	client.EnterAsClient("Frau Beispiel")
	client.WaitState("waiting")
	assertShows(client, "status", textWaiting)
	if v, err := testbrowser.Eval[[]string](client, "window.cspViolations"); err != nil || len(v) != 0 {
		t.Errorf("violations while entering: %q (%v)", v, err)
	}

	if _, err := testbrowser.Eval[bool](client, `(() => {
		const s = document.createElement("script");
		s.textContent = "window.inlineRan = true";
		document.head.append(s);
		document.getElementById("status").setAttribute("style", "color: red");
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
	client.WaitFor("both to be refused", `window.cspViolations.length >= 2`)
	if ran, err := testbrowser.Eval[bool](client, "window.inlineRan === true"); err != nil || ran {
		t.Errorf("an inline script ran under the policy (%v)", err)
	}
	if color, err := testbrowser.Eval[string](client, `getComputedStyle(document.getElementById("status")).color`); err != nil || color == "rgb(255, 0, 0)" {
		t.Errorf("an inline style applied under the policy: %q (%v)", color, err)
	}
}
