package protocol

import (
	"encoding/json"
	"os"
	"testing"
)

// nameCase is one case of testdata/clean_name_cases.json, the table the
// browser's cleanName and nameFits run too (test/e2e TestCleanNameCases).
type nameCase struct {
	Name string `json:"name"`
	In   string `json:"in"`
	Want string `json:"want"`
	Fits bool   `json:"fits"`
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
		})
	}
}
