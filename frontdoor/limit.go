package frontdoor

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// Defaults of Limits.
const (
	// DefaultMaxRequestsPerSource is how many requests one source may have
	// in flight, a WebSocket counting as long as it is open. A page load
	// takes about six at once (browsers' connections per host) and the
	// call one WebSocket.
	DefaultMaxRequestsPerSource = 16
	// DefaultMaxWebSocketsPerSource is how many WebSockets one source may
	// have open. It is half the room server's cap on connections waiting
	// for hello (16), so one source alone can never push a newcomer out
	// of a room.
	DefaultMaxWebSocketsPerSource = 8
	// DefaultMaxRequestsPerRoom is how many requests one room may have in
	// flight, WebSockets included. It is above the room server's own cap
	// on connections (32), so the room decides who makes way, and it bounds
	// what the front door holds for one room (two copy buffers a WebSocket).
	DefaultMaxRequestsPerRoom = 64
)

// Reasons a request was refused by a limit: the values of the refusal
// metric's reason label.
const (
	// ReasonSource: the source's requests in flight.
	ReasonSource = "source"
	// ReasonSourceWebSockets: the source's open WebSockets.
	ReasonSourceWebSockets = "source-websockets"
	// ReasonRoom: the room's requests in flight.
	ReasonRoom = "room"
)

// Limits bound the requests in flight that the front door proxies, per
// source address and per room. A source is the direct peer's address (an
// IPv6 address counts by its /64, which one subscriber usually has whole),
// or, when the peer is one of TrustedProxies, the last address in
// X-Forwarded-For that is not. Addresses are held in memory only while a
// request is in flight; they are never logged or put in a metric.
//
// For each count, zero means its default and a negative value no limit.
type Limits struct {
	// RequestsPerSource bounds one source's requests in flight.
	RequestsPerSource int
	// WebSocketsPerSource bounds one source's open WebSockets.
	WebSocketsPerSource int
	// RequestsPerRoom bounds one room's requests in flight.
	RequestsPerRoom int
	// TrustedProxies are the peers (an Ingress controller's Pods) whose
	// X-Forwarded-For names the source. Behind an Ingress without them,
	// every request has the Ingress's address, and the per-source limits
	// act on all visitors together.
	TrustedProxies []netip.Prefix
}

// withDefaults fills zero counts with the defaults.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.RequestsPerSource, DefaultMaxRequestsPerSource)
	def(&l.WebSocketsPerSource, DefaultMaxWebSocketsPerSource)
	def(&l.RequestsPerRoom, DefaultMaxRequestsPerRoom)
	return l
}

// inFlight is what one source has in flight.
type inFlight struct{ requests, websockets int }

// limiter counts the requests in flight by source and by room.
type limiter struct {
	limits Limits

	mu      sync.Mutex
	sources map[netip.Addr]*inFlight
	rooms   map[string]int
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l.withDefaults(), sources: map[netip.Addr]*inFlight{}, rooms: map[string]int{}}
}

// over reports whether n in flight already reach limit (negative: none).
func over(n, limit int) bool { return limit >= 0 && n >= limit }

// acquire counts a request from src to room; it returns the function that
// uncounts it, or the reason it is refused (then nothing is counted).
func (l *limiter) acquire(src netip.Addr, room string, websocket bool) (release func(), reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.sources[src]
	if f == nil {
		f = &inFlight{}
	}
	switch {
	case over(f.requests, l.limits.RequestsPerSource):
		return nil, ReasonSource
	case websocket && over(f.websockets, l.limits.WebSocketsPerSource):
		return nil, ReasonSourceWebSockets
	case over(l.rooms[room], l.limits.RequestsPerRoom):
		return nil, ReasonRoom
	}
	l.sources[src] = f
	f.requests++
	if websocket {
		f.websockets++
	}
	l.rooms[room]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		f.requests--
		if websocket {
			f.websockets--
		}
		if f.requests == 0 {
			delete(l.sources, src)
		}
		if l.rooms[room]--; l.rooms[room] == 0 {
			delete(l.rooms, room)
		}
	}, ""
}

// source returns the address r counts against: the peer's, or the
// forwarded one when the peer is a trusted proxy. IPv6 addresses are cut
// to their /64.
func (l *limiter) source(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	src := peer.Addr().Unmap()
	if l.trusted(src) {
		src = l.forwarded(r.Header.Values("X-Forwarded-For"), src)
	}
	if src.Is6() {
		p, _ := src.Prefix(64)
		return p.Addr()
	}
	return src
}

// trusted reports whether a is one of the trusted proxies.
func (l *limiter) trusted(a netip.Addr) bool {
	for _, p := range l.limits.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded returns the last address in the X-Forwarded-For values that
// is not a trusted proxy (each proxy appends the address it saw; the ones
// before the first untrusted hop could be anything the client wrote), or
// peer if there is none.
func (l *limiter) forwarded(values []string, peer netip.Addr) netip.Addr {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if a = a.Unmap(); !l.trusted(a) {
			return a
		}
	}
	return peer
}
