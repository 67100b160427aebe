package frontdoor

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Route names: the only label values of the request metric besides the
// status class, so the label set stays bounded and names no room.
const (
	// RouteRoom is a request proxied to a room server (page, assets).
	RouteRoom = "room"
	// RouteWebSocket is a WebSocket upgrade proxied to a room server.
	RouteWebSocket = "websocket"
	// RouteRedirect is /r/<id> redirected to /r/<id>/.
	RouteRedirect = "redirect"
	// RouteNotFound is the common 404: unknown, expired or malformed room,
	// or any path outside /r/.
	RouteNotFound = "not-found"
	// RouteRefused is a method other than GET or HEAD.
	RouteRefused = "refused"
	// RouteUnavailable is a request before the Service cache is ready.
	RouteUnavailable = "unavailable"
	// RouteLimited is a request refused by a limit (see Limits).
	RouteLimited = "limited"
)

// Reasons of the upstream error metric.
const (
	upstreamDial    = "dial"
	upstreamTimeout = "timeout"
	upstreamOther   = "other"
)

// Metrics are the front door's Prometheus metrics.
type Metrics struct {
	requests       *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	websockets     prometheus.Gauge
	limited        *prometheus.CounterVec
}

// NewMetrics makes the metrics and registers them with reg (nil: not
// registered, e.g. in tests that do not read them).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sprechzimmer", Subsystem: "frontdoor", Name: "requests_total",
			Help: "Requests by route and status class (1xx for WebSocket upgrades).",
		}, []string{"route", "code"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sprechzimmer", Subsystem: "frontdoor", Name: "upstream_errors_total",
			Help: "Requests a room server did not answer, by reason (dial, timeout, other).",
		}, []string{"reason"}),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sprechzimmer", Subsystem: "frontdoor", Name: "websockets_active",
			Help: "WebSocket connections currently proxied to room servers.",
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sprechzimmer", Subsystem: "frontdoor", Name: "limited_total",
			Help: "Requests refused by a limit, by reason (source, source-websockets, room).",
		}, []string{"reason"}),
	}
	// Every reason exists from the start, at 0, so that a dashboard and
	// increase() see the first refusal after a restart.
	for _, r := range []string{ReasonSource, ReasonSourceWebSockets, ReasonRoom} {
		m.limited.WithLabelValues(r)
	}
	for _, r := range []string{upstreamDial, upstreamTimeout, upstreamOther} {
		m.upstreamErrors.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.upstreamErrors, m.websockets, m.limited)
	}
	return m
}

// request counts a finished request.
func (m *Metrics) request(route string, status int) {
	m.requests.WithLabelValues(route, statusClass(status)).Inc()
}

// statusClass is "1xx" to "5xx".
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
