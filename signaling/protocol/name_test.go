package protocol

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"testing"
)

// nameCase is one case of testdata/clean_name_cases.json, the table the
// browser's cleanName and nameFits run too (test/e2e TestCleanNameCases).
type nameCase struct {
	Name string `json:"name"`
	In   string `json:"in"`
	Want string `json:"want"`
	Fits bool   `json:"fits"`
	// Problem is what CheckName (and the browser's checkName) says of Want.
	Problem NameProblem `json:"problem"`
}

func TestCleanName(t *testing.T) {
	raw, err := os.ReadFile("testdata/clean_name_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var tests []nameCase
	if err := json.Unmarshal(raw, &tests); err != nil {
		t.Fatal(err)
	}
	if len(tests) == 0 {
		t.Fatal("no cases")
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			got, fits := CleanName(tt.In)
			if got != tt.Want || fits != tt.Fits {
				t.Errorf("CleanName(%+q) = %+q, %v; want %+q, %v", tt.In, got, fits, tt.Want, tt.Fits)
			}
			if p := CheckName(got); p != tt.Problem {
				t.Errorf("CheckName(%+q) = %q, want %q", got, p, tt.Problem)
			}
		})
	}
}

// TestNameTablesAgree compares RoleWords and lookAlikes with protocol.js's
// ROLE_WORDS and LOOK_ALIKES, so that a word or letter added on one side
// only fails here, not only when a case of the shared table happens to use
// it.
func TestNameTablesAgree(t *testing.T) {
	raw, err := os.ReadFile(jsCopyPath)
	if err != nil {
		t.Fatal(err)
	}
	strs := func(name string) []string {
		var out []string
		for _, m := range jsString.FindAllStringSubmatch(jsConst(t, string(raw), name), -1) {
			out = append(out, unquote(t, `"`+m[1]+`"`))
		}
		return out
	}
	if js := strs("ROLE_WORDS"); !slices.Equal(js, RoleWords) {
		t.Errorf("protocol.js ROLE_WORDS %q, Go RoleWords %q", js, RoleWords)
	}
	pairs := strs("LOOK_ALIKES")
	js := map[rune]rune{}
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := []rune(pairs[i]), []rune(pairs[i+1])
		if len(k) != 1 || len(v) != 1 {
			t.Fatalf("protocol.js LOOK_ALIKES: %q: %q is not one letter to one letter", pairs[i], pairs[i+1])
		}
		js[k[0]] = v[0]
	}
	if len(pairs)%2 != 0 || !maps.Equal(js, lookAlikes) {
		t.Errorf("protocol.js LOOK_ALIKES %q differs from Go's lookAlikes %q", js, lookAlikes)
	}
}
