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

// Listeners a client reaches the server on, the values of the "listener"
// label of the allocation and relayed bytes metrics.
const (
	// ListenerUDP is TURN over UDP (turn:...?transport=udp).
	ListenerUDP = "udp"
	// ListenerTCP is TURN over TCP (turn:...?transport=tcp).
	ListenerTCP = "tcp"
	// ListenerTLS is TURN over TLS (turns:...?transport=tcp).
	ListenerTLS = "tls"
)

// listeners are the values of the "listener" label.
var listeners = []string{ListenerUDP, ListenerTCP, ListenerTLS}

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
// sets; nothing in them identifies a user, a room or an address. The
// counters of one listener's allocations are picked by forListener.
type metrics struct {
	allocations        *prometheus.CounterVec
	allocationsActive  *prometheus.GaugeVec
	relayedBytes       *prometheus.CounterVec
	toPeer             prometheus.Counter // of one listener, see forListener
	fromPeer           prometheus.Counter // of one listener, see forListener
	authFailures       *prometheus.CounterVec
	peersRefused       prometheus.Counter
	expiredDrops       prometheus.Counter
	allocationRefusals *prometheus.CounterVec
	streamDrops        *prometheus.CounterVec
}

// newMetrics creates the collectors; register makes them visible.
func newMetrics() *metrics {
	const ns, sub = "sprechzimmer", "turn"
	m := &metrics{
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_total",
			Help: "Relay allocations created since start, by the listener the client came in on (udp, tcp, tls).",
		}, []string{"listener"}),
		allocationsActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "allocations_active",
			Help: "Relay allocations that exist now, by the listener the client came in on (udp, tcp, tls).",
		}, []string{"listener"}),
		relayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "relayed_bytes_total",
			Help: "Payload bytes relayed, by the listener of the allocation's client (udp, tcp, tls): to_peer is sent from relay sockets, from_peer is received on them from permitted peers.",
		}, []string{"direction", "listener"}),
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
		streamDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "stream_frames_dropped_total",
			Help: "ChannelData frames for TURN-over-TCP and TLS clients dropped because the client's connection did not take them as fast as its peers sent (its queue was full), by listener (tcp, tls).",
		}, []string{"listener"}),
		expiredDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "expired_datagrams_total",
			Help: "Datagrams dropped because the credential their allocation was made with has expired.",
		}),
	}
	for _, l := range listeners {
		m.allocations.WithLabelValues(l)
		m.allocationsActive.WithLabelValues(l)
		m.relayedBytes.WithLabelValues(DirectionToPeer, l)
		m.relayedBytes.WithLabelValues(DirectionFromPeer, l)
	}
	m.streamDrops.WithLabelValues(ListenerTCP)
	m.streamDrops.WithLabelValues(ListenerTLS)
	for _, r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	for _, r := range []string{RefusalDraining, RefusalQuota, RefusalClientQuota} {
		m.allocationRefusals.WithLabelValues(r)
	}
	return m
}

// forListener is m with the relayed bytes counters of the allocations
// made through listener, one of the Listener constants: the metrics a
// listener's relay sockets count into.
func (m *metrics) forListener(listener string) *metrics {
	l := *m
	l.toPeer = m.relayedBytes.WithLabelValues(DirectionToPeer, listener)
	l.fromPeer = m.relayedBytes.WithLabelValues(DirectionFromPeer, listener)
	return &l
}

// allocationCreated and allocationDeleted count an allocation made
// through listener.
func (m *metrics) allocationCreated(listener string) {
	m.allocations.WithLabelValues(listener).Inc()
	m.allocationsActive.WithLabelValues(listener).Inc()
}

func (m *metrics) allocationDeleted(listener string) {
	m.allocationsActive.WithLabelValues(listener).Dec()
}

// register registers the collectors with reg.
func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.allocations, m.allocationsActive, m.relayedBytes, m.authFailures, m.peersRefused, m.expiredDrops, m.allocationRefusals, m.streamDrops} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register turn metrics: %w", err)
		}
	}
	return nil
}
