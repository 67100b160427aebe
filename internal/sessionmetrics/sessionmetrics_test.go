package sessionmetrics

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
)

// TestRoomGauges: the gauges the alerts watch count the sessions whose room
// should be open and is not ready, and those still there after expiry; a
// room that is ready, one that opens later and one that has expired but is
// gone count nowhere.
func TestRoomGauges(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	ready := []metav1.Condition{{Type: videov1alpha1.ConditionRoomReady, Status: metav1.ConditionTrue, Reason: "SignalingReady", LastTransitionTime: metav1.Time{Time: now}}}
	starting := []metav1.Condition{{Type: videov1alpha1.ConditionRoomReady, Status: metav1.ConditionFalse, Reason: "SignalingStarting", LastTransitionTime: metav1.Time{Time: now}}}
	tests := []struct {
		name                  string
		sessions              []*videov1alpha1.VideoSession
		wantUnready, wantPast float64
	}{
		{"none", nil, 0, 0},
		{"open and ready", []*videov1alpha1.VideoSession{session("a", now, videov1alpha1.PhaseOpen, ready)}, 0, 0},
		{"open, starting", []*videov1alpha1.VideoSession{session("a", now, videov1alpha1.PhaseOpen, starting)}, 1, 0},
		{"due but never opened (operator down)", []*videov1alpha1.VideoSession{session("a", now.Add(10*time.Minute), videov1alpha1.PhaseScheduled, nil)}, 1, 0},
		{"scheduled for tomorrow", []*videov1alpha1.VideoSession{session("a", now.Add(24*time.Hour), videov1alpha1.PhaseScheduled, nil)}, 0, 0},
		{"past expiry", []*videov1alpha1.VideoSession{session("a", now.Add(-5*time.Hour), videov1alpha1.PhaseEnded, ready)}, 0, 1},
		{"expiring at this second", []*videov1alpha1.VideoSession{session("a", now.Add(-4*time.Hour), videov1alpha1.PhaseExpired, starting)}, 0, 1},
		{"mixed", []*videov1alpha1.VideoSession{
			session("a", now, videov1alpha1.PhaseOpen, starting),
			session("b", now, videov1alpha1.PhaseInProgress, ready),
			session("c", now.Add(-6*time.Hour), videov1alpha1.PhaseEnded, ready),
			session("d", now.Add(-7*time.Hour), videov1alpha1.PhaseExpired, ready),
		}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := make([]client.Object, len(tt.sessions))
			for i, s := range tt.sessions {
				objs[i] = s
			}
			reg := prometheus.NewRegistry()
			New(reg, fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(objs...).Build(), testingclock.NewFakePassiveClock(now))
			if got := gauge(t, reg, "sprechzimmer_rooms_unready"); got != tt.wantUnready {
				t.Errorf("sprechzimmer_rooms_unready = %v, want %v", got, tt.wantUnready)
			}
			if got := gauge(t, reg, "sprechzimmer_sessions_past_expiry"); got != tt.wantPast {
				t.Errorf("sprechzimmer_sessions_past_expiry = %v, want %v", got, tt.wantPast)
			}
		})
	}
}

// TestExpiredOutcomesStartAtZero: both outcomes exist before the first
// session expires, so that increase() counts the first one after a restart.
func TestExpiredOutcomesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, fake.NewClientBuilder().WithScheme(scheme(t)).Build(), testingclock.NewFakePassiveClock(time.Now()))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, f := range families {
		if f.GetName() == "sprechzimmer_sessions_expired_total" {
			for _, m := range f.GetMetric() {
				outcomes = append(outcomes, m.GetLabel()[0].GetValue())
			}
		}
	}
	if want := []string{OutcomeHeld, OutcomeNotHeld}; !slices.Equal(outcomes, want) {
		t.Errorf("sprechzimmer_sessions_expired_total has the outcomes %v, want %v", outcomes, want)
	}
}

func session(name string, start time.Time, phase videov1alpha1.Phase, conditions []metav1.Condition) *videov1alpha1.VideoSession {
	return &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       videov1alpha1.VideoSessionSpec{StartTime: metav1.Time{Time: start}},
		Status:     videov1alpha1.VideoSessionStatus{Phase: phase, Conditions: conditions},
	}
}

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	utilruntime.Must(videov1alpha1.AddToScheme(s))
	return s
}

// gauge is the value of the unlabelled gauge name in reg.
func gauge(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
