package devenv

import (
	"net/url"
	"slices"
	"testing"
)

// TestLoopbackOrigins checks which origins the local setup's rooms accept
// besides the links' own: the same front door under the other loopback
// names, and none for a front door on the LAN.
func TestLoopbackOrigins(t *testing.T) {
	tests := []struct {
		base string
		want []string
	}{
		{"http://127.0.0.1:8080", []string{"http://localhost:8080", "http://[::1]:8080"}},
		{"http://localhost:8080", []string{"http://127.0.0.1:8080", "http://[::1]:8080"}},
		{"http://[::1]:8080", []string{"http://localhost:8080", "http://127.0.0.1:8080"}},
		{"https://198.18.0.1:8443", nil},
		{"https://video.example.org", nil},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			base, err := url.Parse(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if got := loopbackOrigins(base); !slices.Equal(got, tt.want) {
				t.Errorf("loopbackOrigins(%s) = %q, want %q", tt.base, got, tt.want)
			}
		})
	}
}
