package turn

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Directions of relayed traffic, the values of the relayed bytes metric's
// "direction" label.
const (
	// DirectionToPeer counts bytes the relay sent to peers.
	DirectionToPeer = "to_peer"
	// DirectionFromPeer counts bytes the relay received from permitted peers.
	DirectionFromPeer = "from_peer"
)

// Reasons an allocation is refused after authentication, the values of the
// allocation refusals metric's "reason" label.
const (
	// RefusalDraining: the server is shutting down.
	RefusalDraining = "draining"
	// RefusalQuota: the credential has MaxAllocationsPerUser allocations.
	RefusalQuota = "quota"
	// RefusalClientQuota: the credential has MaxAllocationsPerClient
	// allocations from the client's IP address.
	RefusalClientQuota = "client_quota"
)

// metrics are the server's Prometheus collectors. Labels have fixed value
// sets; nothing in them identifies a user, a room or an address.
type metrics struct {
	allocationsTotal   prometheus.Counter
	relayedBytes       *prometheus.CounterVec
	toPeer             prometheus.Counter
	fromPeer           prometheus.Counter
	authFailures       *prometheus.CounterVec
	peersRefused       prometheus.Counter
	expiredDrops       prometheus.Counter
	allocationRefusals *prometheus.CounterVec
}

// newMetrics creates the collectors; register makes them visible.
func newMetrics() *metrics {
	const ns, sub = "sprechzimmer", "turn"
	m := &metrics{
		allocationsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_total",
			Help: "Relay allocations created since start.",
		}),
		relayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "relayed_bytes_total",
			Help: "Payload bytes relayed: to_peer is sent from relay sockets, from_peer is received on them from permitted peers.",
		}, []string{"direction"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "auth_failures_total",
			Help: "Authenticated requests refused, by reason (malformed, expired, wrong_realm, bad_credential).",
		}, []string{"reason"}),
		allocationRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "allocation_refusals_total",
			Help: "Allocations refused to authenticated clients, by reason (draining, quota, client_quota).",
		}, []string{"reason"}),
		peersRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "peer_refusals_total",
			Help: "Permissions, channel bindings and datagrams refused because the peer address is in a denied range, or is the TURN host itself on a port that is no relay.",
		}),
		expiredDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "expired_datagrams_total",
			Help: "Datagrams dropped because the credential their allocation was made with has expired.",
		}),
	}
	m.toPeer = m.relayedBytes.WithLabelValues(DirectionToPeer)
	m.fromPeer = m.relayedBytes.WithLabelValues(DirectionFromPeer)
	for _, r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{RefusalDraining, RefusalQuota, RefusalClientQuota} {
		m.allocationRefusals.WithLabelValues(r)
	}
	return m
}

// register registers the collectors with reg, together with the active
// allocations gauge, which calls active when scraped.
func (m *metrics) register(reg prometheus.Registerer, active func() float64) error {
	const ns, sub = "sprechzimmer", "turn"
	activeGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "allocations_active",
		Help: "Relay allocations that exist now.",
	}, active)
	for _, c := range []prometheus.Collector{m.allocationsTotal, m.relayedBytes, m.authFailures, m.peersRefused, m.expiredDrops, m.allocationRefusals, activeGauge} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register turn metrics: %w", err)
		}
	}
	return nil
}
