package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// cleanNameCases is the table the server's protocol.CleanName runs too.
const cleanNameCases = "../../signaling/protocol/testdata/clean_name_cases.json"

// TestCleanNameCases runs the shared table of display names through the
// page's cleanName and nameFits (protocol.js) in the browser, so the page
// and the server clean and limit a name alike.
func TestCleanNameCases(t *testing.T) {
	raw, err := os.ReadFile(cleanNameCases)
	if err != nil {
		t.Fatal(err)
	}
	var tests []struct {
		Name string `json:"name"`
		In   string `json:"in"`
		Want string `json:"want"`
		Fits bool   `json:"fits"`
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
		Got  string `json:"got"`
		Fits bool   `json:"fits"`
	}
	got, err := eval[[]result](p, fmt.Sprintf(`(async () => {
		const pr = await import("./protocol.js");
		return %s.map((name) => {
			const got = pr.cleanName(name);
			return { got, fits: pr.nameFits(got) };
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
		})
	}
}
