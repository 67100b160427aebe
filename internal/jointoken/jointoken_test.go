package jointoken

import (
	"testing"
)

func TestNewTokensAreDistinctAndLongEnough(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) < 43 { // 256 bits in base64url
			t.Fatalf("token %d characters long, want at least 43", len(tok))
		}
		if seen[tok] {
			t.Fatal("New() returned the same token twice")
		}
		seen[tok] = true
	}
}

func TestHashRoundTripAndMatch(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHash(Of(tok).String())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token string
		want  bool
	}{
		{tok, true},
		{tok + "x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := h.Matches(tt.token); got != tt.want {
			t.Errorf("Matches(%d chars) = %v, want %v", len(tt.token), got, tt.want)
		}
	}
	for _, bad := range []string{"", "zz", Of(tok).String()[:62]} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) = nil error, want one", bad)
		}
	}
}
