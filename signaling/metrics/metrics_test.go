package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// TestJoinRefusalsStartWithTheRoomsReasons: the refusal metric's reasons are
// room.RefusalCodes, each at zero from the start.
func TestJoinRefusalsStartWithTheRoomsReasons(t *testing.T) {
	m := New()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, f := range families {
		if f.GetName() != "sprechzimmer_signaling_join_refusals_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			if v := s.GetCounter().GetValue(); v != 0 {
				t.Errorf("a reason starts at %v", v)
			}
			for _, l := range s.GetLabel() {
				reasons = append(reasons, l.GetValue())
			}
		}
	}
	if want := codes(room.RefusalCodes); !slices.Equal(sorted(reasons), sorted(want)) {
		t.Errorf("reasons %v, want room.RefusalCodes %v", reasons, want)
	}
}

// TestErrorCountsARefusalOnce: every error code counts as a protocol error;
// the room's refusal codes, and only they, count as a refused join too.
func TestErrorCountsARefusalOnce(t *testing.T) {
	for _, code := range protocol.Codes {
		t.Run(string(code), func(t *testing.T) {
			m := New()
			m.Error(code)
			if got := sum(t, m, "sprechzimmer_signaling_protocol_errors_total"); got != 1 {
				t.Errorf("protocol errors %v, want 1", got)
			}
			want := 0.0
			if room.IsRefusal(code) {
				want = 1
			}
			if got := sum(t, m, "sprechzimmer_signaling_join_refusals_total"); got != want {
				t.Errorf("join refusals %v, want %v", got, want)
			}
		})
	}
}

// TestReadmeListsTheRefusalCodes: the metrics table of signaling/README.md
// lists exactly room.RefusalCodes as the refusal metric's reasons.
func TestReadmeListsTheRefusalCodes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "| `sprechzimmer_signaling_join_refusals_total` |") {
			row = line
		}
	}
	cells := strings.Split(row, "|")
	if len(cells) < 4 {
		t.Fatalf("signaling/README.md has no metrics table row for sprechzimmer_signaling_join_refusals_total")
	}
	labels, ok := strings.CutPrefix(strings.TrimSpace(cells[3]), "`reason`:")
	if !ok {
		t.Fatalf("the row's labels are %q, want `reason`: followed by the codes", cells[3])
	}
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(labels, -1) {
		documented = append(documented, m[1])
	}
	if want := codes(room.RefusalCodes); !slices.Equal(documented, want) {
		t.Errorf("signaling/README.md lists the reasons %v, want room.RefusalCodes %v in that order", documented, want)
	}
}

// sum adds up the counter family name over all its labels.
func sum(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() == name {
			for _, s := range f.GetMetric() {
				total += s.GetCounter().GetValue()
			}
		}
	}
	return total
}

func codes(cs []protocol.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
