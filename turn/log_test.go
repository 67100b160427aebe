package turn

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestPionLogsWithoutData feeds pion's logger what pion logs (addresses and
// usernames as arguments) and checks that none of it reaches the log.
func TestPionLogsWithoutData(t *testing.T) {
	var buf bytes.Buffer
	log := pionLoggerFactory{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}.NewLogger("turn")
	const addr, user = "198.51.100.7:50000", "1700000000:room-x"

	log.Errorf("Failed to send ChannelData from allocation %v %v", addr, "boom")
	log.Warnf("Failed to create TCP Connection: %v", addr)
	log.Error("no such user " + user)
	log.Warn("peer " + addr)
	log.Infof("No Permission or Channel exists for %v on allocation %v", addr, addr)
	log.Debugf("Authentication username=%q", user)
	log.Tracef("Relay socket %s received %d bytes from %s", addr, 1200, addr)

	out := buf.String()
	for _, leak := range []string{addr, "198.51.100.7", user, "room-x"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "Failed to send ChannelData from allocation") {
		t.Errorf("log lost the error's format string:\n%s", out)
	}
	if got := strings.Count(out, "\n"); got != 4 {
		t.Errorf("log has %d lines, want 4 (warnings and errors only):\n%s", got, out)
	}
}
