// Package metrics holds the signaling server's Prometheus metrics in a
// registry of their own. Every label has a closed set of values: roles,
// protocol error codes; never anything a person typed or sent.
package metrics

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// Metrics is the signaling server's metrics.
type Metrics struct {
	// Registry holds the metrics below and the Go and process collectors.
	Registry *prometheus.Registry
	// Joins counts successful joins by role.
	Joins *prometheus.CounterVec
	// JoinRefusals counts refused attempts to enter by reason, the error
	// codes of room.RefusalCodes: the same answered errors the room counts
	// in its state.
	JoinRefusals *prometheus.CounterVec
	// ConnectedPeers is the number of people in the room, 0 to 2.
	ConnectedPeers prometheus.Gauge
	// ProtocolErrors counts answered errors by code.
	ProtocolErrors *prometheus.CounterVec
	// HellosDelayed counts hellos that waited because their source had
	// sent tokens that are not the room's.
	HellosDelayed prometheus.Counter
}

// New returns the metrics, registered and with every label value at zero.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sprechzimmer_signaling_joins_total",
			Help: "Successful joins of the room, by role.",
		}, []string{"role"}),
		JoinRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sprechzimmer_signaling_join_refusals_total",
			Help: "Refused attempts to enter the room, by reason (protocol error code: " + refusalList() + ").",
		}, []string{"reason"}),
		ConnectedPeers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sprechzimmer_signaling_connected_peers",
			Help: "People in the room, 0 to 2.",
		}),
		ProtocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sprechzimmer_signaling_protocol_errors_total",
			Help: "Error messages sent to browsers, by code.",
		}, []string{"code"}),
		HellosDelayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sprechzimmer_signaling_hellos_delayed_total",
			Help: "Hellos answered only after a wait, because their source had sent tokens that are not the room's.",
		}),
	}
	m.Registry.MustRegister(m.Joins, m.JoinRefusals, m.ConnectedPeers, m.ProtocolErrors, m.HellosDelayed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []protocol.Role{protocol.RoleTherapist, protocol.RoleClient} {
		m.Joins.WithLabelValues(string(r))
	}
	for _, c := range room.RefusalCodes {
		m.JoinRefusals.WithLabelValues(string(c))
	}
	for _, c := range protocol.Codes {
		m.ProtocolErrors.WithLabelValues(string(c))
	}
	return m
}

// refusalList is room.RefusalCodes for the metric's help text.
func refusalList() string {
	codes := make([]string, len(room.RefusalCodes))
	for i, c := range room.RefusalCodes {
		codes[i] = string(c)
	}
	return strings.Join(codes, ", ")
}

// Error counts an answered error, and a refusal if it is one.
func (m *Metrics) Error(code protocol.Code) {
	m.ProtocolErrors.WithLabelValues(string(code)).Inc()
	if room.IsRefusal(code) {
		m.JoinRefusals.WithLabelValues(string(code)).Inc()
	}
}

// Joined counts a successful join.
func (m *Metrics) Joined(role protocol.Role) { m.Joins.WithLabelValues(string(role)).Inc() }

// Observe takes the room's state; use it as (part of) room.Config.OnChange.
func (m *Metrics) Observe(s room.State) { m.ConnectedPeers.Set(float64(s.Participants)) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
