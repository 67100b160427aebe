package frontdoor

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRefusalReasonsStartAtZero: every reason of the limit and upstream
// error counters exists from the start at 0, so that the first refusal
// after a restart shows in increase() and on the dashboard.
func TestRefusalReasonsStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string][]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s starts at %v", f.GetName(), v)
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					reasons[f.GetName()] = append(reasons[f.GetName()], l.GetValue())
				}
			}
		}
	}
	for name, want := range map[string][]string{
		"sprechzimmer_frontdoor_limited_total":         {ReasonRoom, ReasonSource, ReasonSourceWebSockets},
		"sprechzimmer_frontdoor_upstream_errors_total": {upstreamDial, upstreamOther, upstreamTimeout},
	} {
		if got := reasons[name]; !slices.Equal(got, want) {
			t.Errorf("%s has the reasons %v, want %v", name, got, want)
		}
	}
}
