package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// cleanNameCases is the table the server's protocol.CleanName runs too.
const cleanNameCases = "../../signaling/protocol/testdata/clean_name_cases.json"

// TestCleanNameCases runs the shared table of display names through the
// page's cleanName, nameFits and checkName (protocol.js) in the browser, so
// the page and the server clean, limit and refuse a name alike.
func TestCleanNameCases(t *testing.T) { forEachEngine(t, testCleanNameCases) }

func testCleanNameCases(t *testing.T, _ engine) {
	raw, err := os.ReadFile(cleanNameCases)
	if err != nil {
		t.Fatal(err)
	}
	var tests []struct {
		Name    string `json:"name"`
		In      string `json:"in"`
		Want    string `json:"want"`
		Fits    bool   `json:"fits"`
		Problem string `json:"problem"`
	}
	if err := json.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	inputs := make([]string, len(tests))
	for i, tt := range tests {
		inputs[i] = tt.In
	}
	// JSON is a JavaScript expression; json.Marshal escapes U+2028 and U+2029.
	inputsJS, err := json.Marshal(inputs)
	if err != nil {
		t.Fatal(err)
	}

	r := startRoom(t, roomOptions{})
	p := openPage(t, "clean-name", r.URL+"index.html")
	type result struct {
		Got     string `json:"got"`
		Fits    bool   `json:"fits"`
		Problem string `json:"problem"`
	}
	got, err := testbrowser.Eval[[]result](p, fmt.Sprintf(`(async () => {
		const pr = await import("./protocol.js");
		return %s.map((name) => {
			const got = pr.cleanName(name);
			return { got, fits: pr.nameFits(got), problem: pr.checkName(got) };
		});
	})()`, inputsJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tests) {
		t.Fatalf("%d results for %d cases", len(got), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			if got[i].Got != tt.Want || got[i].Fits != tt.Fits {
				t.Errorf("cleanName(%+q) = %+q, nameFits %v; want %+q, %v", tt.In, got[i].Got, got[i].Fits, tt.Want, tt.Fits)
			}
			if got[i].Problem != tt.Problem {
				t.Errorf("checkName(%+q) = %q, want %q", tt.Want, got[i].Problem, tt.Problem)
			}
		})
	}
}

// TestRefusedNamesAreExplained types names the page refuses and checks that
// the person reads why, in German and in English, and stays in the waiting
// room.
func TestRefusedNamesAreExplained(t *testing.T) { forEachEngine(t, testRefusedNamesAreExplained) }

func testRefusedNamesAreExplained(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	tests := []struct {
		name  string
		langs string
		typed string
		want  string
	}{
		{"role, German", "", "Therapeut", "Bezeichnungen wie „Therapeut“"},
		{"role with a look-alike letter, English", "en-US,en", "Ihre \u041aLIENTIN", "cannot be used as a name"},
		{"combining marks, German", "", "A" + strings.Repeat("\u0301", 8), "Akzent- oder Zusatzzeichen"},
		{"too long, English", "en-US,en", strings.Repeat("x", 65), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []pageOption
			if tt.langs != "" {
				opts = append(opts, testbrowser.WithLanguages(tt.langs))
			}
			p := openPage(t, "client", r.Link(r.Client), opts...)
			p.WaitState("waiting-room")
			// Typed into the field directly: SendKeys cannot type every mark.
			if _, err := testbrowser.Eval[bool](p, fmt.Sprintf(`(() => { document.getElementById("name").value = %q; return true; })()`, tt.typed)); err != nil {
				t.Fatal(err)
			}
			p.Click("terms")
			p.Click("processing")
			p.Click("enter")
			assertShows(p, "form-error", tt.want)
			assertAccessible(t, p, "name refused")
			if s := p.State(); s != "waiting-room" {
				t.Errorf("state %q after a refused name, want waiting-room", s)
			}
			p.Close()
		})
	}
}
