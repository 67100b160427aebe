// Package sessionmetrics is the operator's Prometheus metrics. They record
// the date and length of sessions and nothing personal: no label carries a
// session name, namespace or therapist reference; every label set is bounded.
package sessionmetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
)

const namespace = "sprechzimmer"

// Outcome labels of an expired session.
const (
	// OutcomeHeld means both people were in the room together at some point.
	OutcomeHeld = "held"
	// OutcomeNotHeld means the two never met in the room.
	OutcomeNotHeld = "not_held"
)

// Metrics are the operator's session metrics.
type Metrics struct {
	duration       prometheus.Histogram
	expired        *prometheus.CounterVec
	deleted        prometheus.Counter
	deletionLag    prometheus.Histogram
	podRecreations prometheus.Counter
}

// New registers the metrics with reg. sessions lists the sessions for the
// gauges at scrape time (the manager's cache), so they are right after a
// restart too; clk is the time they are measured at (the operator's clock).
func New(reg prometheus.Registerer, sessions client.Reader, clk clock.PassiveClock) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "session_duration_seconds",
			Help: "Length of held sessions: from the moment both people were first in the room together " +
				"until the call ended (or the room expired while they were still talking). Observed once per session, when it expires.",
			Buckets: []float64{5 * 60, 15 * 60, 25 * 60, 45 * 60, 50 * 60, 60 * 60, 90 * 60, 2 * 3600, 3 * 3600, 6 * 3600},
		}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sessions_expired_total",
			Help: "Sessions that reached the end of their validity, by whether the two met (outcome=held|not_held).",
		}, []string{"outcome"}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "sessions_deleted_total",
			Help: "Expired sessions the operator deleted, with everything they owned.",
		}),
		deletionLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "session_deletion_lag_seconds",
			Help:    "Time from a session's expiry to its deletion by the operator.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		podRecreations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "signaling_pod_recreations_total",
			Help: "Signaling Pods recreated because the previous one was gone or had stopped while the room was open.",
		}),
	}
	for _, o := range []string{OutcomeHeld, OutcomeNotHeld} {
		m.expired.WithLabelValues(o)
	}
	reg.MustRegister(m.duration, m.expired, m.deleted, m.deletionLag, m.podRecreations, &sessionCollector{
		sessions: sessions,
		clock:    clk,
		phases:   prometheus.NewDesc(namespace+"_sessions", "Sessions by phase.", []string{"phase"}, nil),
		unready: prometheus.NewDesc(namespace+"_rooms_unready",
			"Sessions whose room should be open (between opensAt and expiresAt) and is not ready: no RoomReady condition that is True.", nil, nil),
		pastExpiry: prometheus.NewDesc(namespace+"_sessions_past_expiry",
			"Sessions that still exist after their expiry (startTime plus validFor); the operator deletes them within seconds.", nil, nil),
	})
	return m
}

// SessionExpired records an expired session: its outcome and, when the two
// met, its duration. Call it exactly once per session.
func (m *Metrics) SessionExpired(s *videov1alpha1.VideoSession, expiresAt time.Time) {
	d, held := Duration(s, expiresAt)
	if !held {
		m.expired.WithLabelValues(OutcomeNotHeld).Inc()
		return
	}
	m.expired.WithLabelValues(OutcomeHeld).Inc()
	m.duration.Observe(d.Seconds())
}

// Duration is the length of a session as the duration metric defines it,
// and whether the session was held at all.
func Duration(s *videov1alpha1.VideoSession, expiresAt time.Time) (time.Duration, bool) {
	if s.Status.StartedAt == nil {
		return 0, false
	}
	end := expiresAt
	if s.Status.EndedAt != nil && s.Status.EndedAt.Time.Before(end) {
		end = s.Status.EndedAt.Time
	}
	return max(end.Sub(s.Status.StartedAt.Time), 0), true
}

// SessionDeleted records the deletion of an expired session lag after its expiry.
func (m *Metrics) SessionDeleted(lag time.Duration) {
	m.deleted.Inc()
	m.deletionLag.Observe(max(lag, 0).Seconds())
}

// PodRecreated counts a recreated signaling Pod.
func (m *Metrics) PodRecreated() { m.podRecreations.Inc() }

// sessionCollector computes the gauges from the sessions at scrape time.
type sessionCollector struct {
	sessions                    client.Reader
	clock                       clock.PassiveClock
	phases, unready, pastExpiry *prometheus.Desc
}

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.phases
	ch <- c.unready
	ch <- c.pastExpiry
}

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list videov1alpha1.VideoSessionList
	if err := c.sessions.List(ctx, &list); err != nil {
		for _, d := range []*prometheus.Desc{c.phases, c.unready, c.pastExpiry} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	now := c.clock.Now()
	counts := map[videov1alpha1.Phase]int{}
	for _, p := range []videov1alpha1.Phase{videov1alpha1.PhaseScheduled, videov1alpha1.PhaseOpen, videov1alpha1.PhaseInProgress, videov1alpha1.PhaseEnded, videov1alpha1.PhaseExpired} {
		counts[p] = 0
	}
	var unready, pastExpiry int
	for i := range list.Items {
		s := &list.Items[i]
		if p := s.Status.Phase; p != "" {
			counts[p]++
		}
		opensAt, expiresAt := s.Schedule()
		switch {
		case !now.Before(expiresAt):
			pastExpiry++
		case !now.Before(opensAt) && !meta.IsStatusConditionTrue(s.Status.Conditions, videov1alpha1.ConditionRoomReady):
			unready++
		}
	}
	for p, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.phases, prometheus.GaugeValue, float64(n), string(p))
	}
	ch <- prometheus.MustNewConstMetric(c.unready, prometheus.GaugeValue, float64(unready))
	ch <- prometheus.MustNewConstMetric(c.pastExpiry, prometheus.GaugeValue, float64(pastExpiry))
}
