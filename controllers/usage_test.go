package controllers_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// TestUsageLineHoldsOnlyWhatTheDocsSay expires a session and reads its one
// "session usage" line: the keys docs/operator.md lists and nothing of the
// session or the reconcile (name, namespace, reconcile id, note).
func TestUsageLineHoldsOnlyWhatTheDocsSay(t *testing.T) {
	op, s := openRoom(t, "appointment-u7")
	op.clock.SetTime(s.Status.ExpiresAt.Time)
	waitGone(t, client.ObjectKeyFromObject(s))

	var lines []string
	testenv.Eventually(t, "the usage line", func() error {
		lines = strings.Split(strings.TrimSpace(op.usage.String()), "\n")
		if len(lines) != 1 || lines[0] == "" {
			return fmt.Errorf("%d usage lines: %q", len(lines), op.usage.String())
		}
		return nil
	})
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("usage line %q: %v", lines[0], err)
	}
	want := map[string]any{
		"level":           "INFO",
		"msg":             "session usage",
		"logger":          "usage",
		"therapistRef":    s.Spec.TherapistRef,
		"date":            s.Spec.StartTime.UTC().Format(time.DateOnly),
		"held":            false,
		"durationSeconds": float64(0),
	}
	keys := slices.Sorted(maps.Keys(got))
	wantKeys := append(slices.Sorted(maps.Keys(want)), "time")
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("usage line keys %q, want %q (line %s)", keys, wantKeys, lines[0])
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("usage line %s = %v, want %v", k, got[k], v)
		}
	}
	for _, secret := range []string{s.Name, s.Namespace, string(s.UID), s.Spec.Note} {
		if strings.Contains(lines[0], secret) {
			t.Errorf("usage line holds %q: %s", secret, lines[0])
		}
	}
}
