package e2e

import (
	"fmt"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// TestNetworkVerdict runs the decision of netcheck.js (what the page says
// about a call that is not connected) on a table, in the browser that runs
// it for real. TestNetworkBlocked checks the message behind a real
// firewall.
func TestNetworkVerdict(t *testing.T) {
	r := startRoom(t, roomOptions{})
	p := openPage(t, "netcheck", r.URL+"index.html")
	tests := []struct {
		name  string
		state string // turn, relay, gathered, failed, elapsedMs
		want  string
	}{
		{"TURN given, no relay yet", "true, false, false, false, 3000", "null"},
		{"TURN given, no relay within 7 s", "true, false, false, false, 7000", `"blocked"`},
		{"gathering ended without a relay", "true, false, true, false, 1000", `"blocked"`},
		{"ICE failed without a relay", "true, false, false, true, 1000", `"blocked"`},
		{"a relay, still trying at 8 s", "true, true, true, false, 8000", "null"},
		{"a relay, no path within 11 s", "true, true, true, false, 11000", `"no-path"`},
		{"a relay, ICE failed", "true, true, true, true, 2000", `"no-path"`},
		{"no TURN given, still trying at 8 s", "false, false, true, false, 8000", "null"},
		{"no TURN given, no path within 11 s", "false, false, true, false, 11000", `"no-path"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testbrowser.Eval[string](p, fmt.Sprintf(`(async () => {
				const {verdict} = await import("./netcheck.js");
				const [turn, relay, gathered, failed, elapsedMs] = [%s];
				return JSON.stringify(verdict({turn, relay, gathered, failed, elapsedMs}));
			})()`, tt.state))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("verdict(%s) = %s, want %s", tt.state, got, tt.want)
			}
		})
	}
}
