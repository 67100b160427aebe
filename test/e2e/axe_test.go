package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// axePath is axe-core's browser build, installed by `make web-deps` from
// web/package-lock.json.
const axePath = "../../web/node_modules/axe-core/axe.min.js"

var axeSource struct {
	once sync.Once
	js   string
	err  error
}

// axeFinding is one rule axe-core found broken, with the elements.
type axeFinding struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

func (f axeFinding) String() string {
	return fmt.Sprintf("%s (%s: %s) at %s", f.ID, f.Impact, f.Help, strings.Join(f.Targets, ", "))
}

// assertAccessible runs axe-core in p as it is now and fails t for every
// critical or serious finding; where names the page's state for the
// message. axe is injected through script evaluation, which the page's
// Content-Security-Policy does not govern. Without web/node_modules the
// check is skipped with a note, or fails when CI=true.
func assertAccessible(t testing.TB, p *page, where string) {
	t.Helper()
	axeSource.once.Do(func() {
		b, err := os.ReadFile(axePath)
		axeSource.js, axeSource.err = string(b), err
	})
	if axeSource.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("axe-core missing (run make web-deps): %v", axeSource.err)
		}
		t.Logf("axe-core missing, accessibility of %s not checked (run make web-deps): %v", where, axeSource.err)
		return
	}
	if loaded, _ := testbrowser.Eval[bool](p, `typeof window.axe === "object"`); !loaded {
		if _, err := testbrowser.Eval[bool](p, "(() => {\n"+axeSource.js+"\n; return true; })()"); err != nil {
			t.Fatalf("%s: injecting axe-core: %v", p.Name, err)
		}
	}
	found, err := testbrowser.Eval[[]axeFinding](p, `(async () => {
		const r = await window.axe.run(document, { resultTypes: ["violations"] });
		return r.violations
			.filter((v) => v.impact === "critical" || v.impact === "serious")
			.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }));
	})()`)
	if err != nil {
		t.Fatalf("%s: running axe-core: %v", p.Name, err)
	}
	for _, f := range found {
		t.Errorf("%s (%s), %s: %s", p.Name, p.Engine, where, f)
	}
}
