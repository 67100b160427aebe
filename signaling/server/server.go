// Package server is the signaling server's HTTP side: the room page and its
// assets, the WebSocket at /ws that feeds a room.Room, health and
// readiness, and metrics. It holds no media: the connection test runs
// inside the browser.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/metrics"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
	"github.com/sprechzimmer/sprechzimmer/web"
)

// Defaults of Options.
const (
	// DefaultPingInterval is how often the server pings a browser.
	DefaultPingInterval = 10 * time.Second
	// DefaultDeadAfter is how long a connection may stay silent (no frame,
	// no pong) before it counts as gone.
	DefaultDeadAfter = 25 * time.Second
	// DefaultRate is the messages per second a connection may send on average.
	DefaultRate = 20
	// DefaultBurst is the burst of messages above DefaultRate.
	DefaultBurst = 60
	// DefaultHelloTimeout is how long a new connection may take to say
	// hello. The page sends hello as soon as its socket opens, so this is
	// one round trip plus a wide margin for a slow mobile network.
	DefaultHelloTimeout = 5 * time.Second
	// DefaultMaxPending is how many connections may wait for their hello at
	// once. When one more arrives, the one that has waited longest is
	// dropped to make room (see Server).
	DefaultMaxPending = 16
	// DefaultMaxConns is how many connections the room takes at once,
	// waiting and welcomed together.
	DefaultMaxConns = 32
	// HardReadLimit is the frame size at which the connection is closed
	// (1009). Frames between protocol.MaxMessageBytes and this are read to
	// the end, refused with too-large, and the connection stays.
	HardReadLimit = 1 << 20
	// DefaultSendQueue is how many frames may wait for a connection's
	// writer; a browser that falls this far behind is disconnected.
	DefaultSendQueue = 256
	// writeTimeout bounds one frame's write to a slow browser.
	writeTimeout = 10 * time.Second
)

// Options configure a Server.
type Options struct {
	// Config is the signaling server's configuration: origins and ICE
	// servers. Required.
	Config *config.Config
	// Room is the room the WebSocket connections enter. Required.
	Room *room.Room
	// Metrics, if set, counts joins, refusals and errors.
	Metrics *metrics.Metrics
	// Logger gets connection events, never personal data; slog.Default if nil.
	Logger *slog.Logger
	// PingInterval, DeadAfter, HelloTimeout, Rate, Burst, SendQueue,
	// MaxPending and MaxConns default to the constants above
	// when zero; HelloTimeout, MaxPending and MaxConns first to Config's
	// MaxConnections, MaxPendingConnections and HelloTimeout (from the
	// environment) when those are set.
	PingInterval time.Duration
	HelloTimeout time.Duration
	DeadAfter    time.Duration
	Rate         float64
	Burst        int
	SendQueue    int
	MaxPending   int
	MaxConns     int
	// FreeFailures, PenaltyBase, PenaltyMax, PenaltyForget and
	// PenaltySources shape the wait for hellos from a source that keeps
	// sending tokens that are not the room's (see Server); they default to
	// the Default constants of the same names when zero. A negative
	// FreeFailures turns the wait off.
	FreeFailures   int
	PenaltyBase    time.Duration
	PenaltyMax     time.Duration
	PenaltyForget  time.Duration
	PenaltySources int
	// Now is the clock of the rate limiter and of the penalties; time.Now
	// if nil.
	Now func() time.Time

	// pause replaces the wait of a penalized hello in tests.
	pause func(ctx context.Context, d time.Duration) bool
}

// Server serves one room.
//
// Under a flood of WebSockets that never say hello, the room stays small
// and still lets the two people in: at most MaxConns connections count at
// once, and at most MaxPending of them may be waiting for their hello.
// Hello-less connections are the only ones an outsider without a token can
// hold, so a new connection always gets in as long as one of them is there:
// the one that has waited longest is dropped (closed at once, without a
// close handshake; a real page sees 1006 and reconnects). An attacker thus
// cannot hold slots against a newcomer, whose hello arrives one round trip
// after its socket opened; to push it out, MaxPending connections would
// have to arrive within that round trip (the front door's per-source limit
// keeps one source well below that). Only when all MaxConns connections
// have said hello, which takes a valid token, is an upgrade refused, with
// 503 and Connection: close, before anything is allocated for it.
//
// Guessing tokens costs the guesser: after FreeFailures hellos from one
// source were answered link-invalid, every further hello from it waits
// before the room answers it, PenaltyBase doubling with each failure up to
// PenaltyMax, until the source has not failed for PenaltyForget. While it
// waits, the connection still counts as waiting for hello and makes way
// for newcomers. A source is the pseudonym the front door sends in
// protocol.SourceHeader or, without it, the peer's address (an IPv6
// address by its /64). The header is taken from any peer: a room is
// reachable only inside the cluster, and there a sender that forges it
// gains nothing it could not get from more Pods. Sources are held in
// memory only and never logged. A hello from a source that has not failed
// never waits.
type Server struct {
	opts    Options
	log     *slog.Logger
	penalty *penalties
	// pause waits d or until ctx ends, and reports whether d passed.
	pause   func(ctx context.Context, d time.Duration) bool
	origins map[string]bool
	static  http.Handler

	mu     sync.Mutex
	conns  map[*wsConn]struct{} // every running connection, dropped ones too
	nextID uint64
	wg     sync.WaitGroup
	// counted is the number of running connections not dropped: the ones
	// MaxConns bounds.
	counted int
	// pending are the counted connections without hello, oldest first.
	pending []*wsConn
}

// New returns a server for opts.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Room == nil {
		return nil, errors.New("server: Config and Room are required")
	}
	setDefault(&opts.PingInterval, DefaultPingInterval)
	setDefault(&opts.DeadAfter, DefaultDeadAfter)
	setDefault(&opts.HelloTimeout, opts.Config.HelloTimeout, DefaultHelloTimeout)
	setDefault(&opts.Rate, DefaultRate)
	setDefault(&opts.Burst, DefaultBurst)
	setDefault(&opts.SendQueue, DefaultSendQueue)
	setDefault(&opts.MaxConns, opts.Config.MaxConnections, DefaultMaxConns)
	setDefault(&opts.MaxPending, opts.Config.MaxPendingConnections, DefaultMaxPending)
	opts.MaxPending = min(opts.MaxPending, opts.MaxConns)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	setDefault(&opts.PenaltyBase, DefaultPenaltyBase)
	setDefault(&opts.PenaltyMax, DefaultPenaltyMax)
	setDefault(&opts.PenaltyForget, DefaultPenaltyForget)
	setDefault(&opts.FreeFailures, DefaultFreeFailures)
	setDefault(&opts.PenaltySources, DefaultPenaltySources)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	static, err := fs.Sub(web.Static, "static")
	if err != nil {
		return nil, fmt.Errorf("server: the embedded page: %w", err)
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		origins: map[string]bool{},
		static:  http.FileServerFS(static),
		conns:   map[*wsConn]struct{}{},
		pause:   opts.pause,
	}
	if s.pause == nil {
		s.pause = pause
	}
	if opts.FreeFailures >= 0 {
		s.penalty = newPenalties(opts.FreeFailures, opts.PenaltyBase, opts.PenaltyMax, opts.PenaltyForget, opts.PenaltySources, opts.Now)
	}
	if u := opts.Config.PublicURL; u != nil {
		s.origins[originOf(u)] = true
	}
	for _, o := range opts.Config.AllowedOrigins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			s.origins[originOf(u)] = true
		}
	}
	return s, nil
}

// setDefault sets a zero *v to the first of defaults that is not zero.
func setDefault[T comparable](v *T, defaults ...T) {
	var zero T
	for _, d := range defaults {
		if *v != zero {
			return
		}
		*v = d
	}
}

// originOf returns scheme://host in lower case.
func originOf(u *url.URL) string { return strings.ToLower(u.Scheme + "://" + u.Host) }

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.opts.Room.Closed() {
			http.Error(w, "room closed", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics.Handler())
	}
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.Handle("GET /", s.pageHeaders(s.static))
	return mux
}

// pageHeaders adds the headers the room page needs: no referrer (the page
// URL names the room), no framing, no sniffing, no caching, and a
// Content-Security-Policy that allows nothing inline and nothing foreign.
func (s *Server) pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy(s.opts.Config.PublicURL, r))
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// originAllowed reports whether a WebSocket may be opened from the request's
// Origin: the origin of the public URL and the allowed origins; without a
// public URL (stand-alone) the request's own host. A request without Origin
// is not from a browser page and cannot be a cross-site request; it passes.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if s.origins[originOf(u)] {
		return true
	}
	return s.opts.Config.PublicURL == nil && strings.EqualFold(u.Host, r.Host)
}

// serveWS upgrades to a WebSocket and runs the connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.log.Info("websocket refused", "reason", "origin")
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if !s.hasRoom() {
		s.log.Info("websocket refused", "reason", "full")
		w.Header().Set("Connection", "close") // no idle keep-alive either
		w.Header().Set("Retry-After", "2")
		http.Error(w, "the room is busy, try again shortly", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // originAllowed checked it above
	})
	if err != nil {
		return
	}
	c, dropped := s.track(ws)
	c.source = sourceOf(r)
	for _, d := range dropped {
		s.log.Info("connection dropped", "conn", d.id, "reason", "waiting for hello while others arrive")
		d.abort()
	}
	defer s.untrack(c)
	c.run()
}

// maxSourceLen bounds the source pseudonym taken from a request.
const maxSourceLen = 64

// sourceOf returns the source r counts against for penalties: the front
// door's pseudonym, or else the peer's address, an IPv6 one cut to its /64.
func sourceOf(r *http.Request) string {
	if v := r.Header.Get(protocol.SourceHeader); v != "" {
		return "p:" + v[:min(len(v), maxSourceLen)]
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	a := peer.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return "a:" + a.String()
}

// pause waits d or until ctx ends, and reports whether d passed.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// hasRoom reports whether a new connection could be taken now: below
// MaxConns, or with a connection waiting for hello that can make way.
func (s *Server) hasRoom() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked()
	return s.counted < s.opts.MaxConns || len(s.pending) > 0
}

// pruneLocked takes the connections the room has welcomed out of pending:
// the room welcomes before the reader can tell welcomed, and a welcomed
// connection must never make way. It takes the room's lock under the
// server's (never the other way round).
func (s *Server) pruneLocked() {
	kept := s.pending[:0]
	for _, p := range s.pending {
		if p.member != nil {
			if _, ok := p.member.Role(); ok {
				continue
			}
		}
		kept = append(kept, p)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// entered notes the room's member of c.
func (s *Server) entered(c *wsConn, m *room.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.member = m
}

// track registers a new connection as waiting for hello and returns the
// connections that must make way for it, oldest waiting first: after it,
// at most MaxConns connections count and at most MaxPending wait. The
// caller aborts them.
func (s *Server) track(ws *websocket.Conn) (*wsConn, []*wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	c := newWSConn(s, ws, s.nextID)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.pruneLocked()
	s.counted++
	s.pending = append(s.pending, c)
	var dropped []*wsConn
	for len(s.pending) > s.opts.MaxPending || s.counted > s.opts.MaxConns {
		// pending is never empty here: c itself is in it.
		d := s.pending[0]
		s.pending[0] = nil // not kept alive by the array
		s.pending = s.pending[1:]
		if d.member != nil && !d.member.DropIfWaiting() {
			continue // welcomed a moment ago: it stays and counts
		}
		d.dropped = true
		s.counted--
		dropped = append(dropped, d)
	}
	return c, dropped
}

// welcomed notes that c said hello: it no longer waits, and it can no
// longer be dropped for a newcomer.
func (s *Server) welcomed(c *wsConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unpendLocked(c)
}

// unpendLocked removes c from pending, if it is there.
func (s *Server) unpendLocked(c *wsConn) {
	for i, p := range s.pending {
		if p == c {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return
		}
	}
}

// untrack forgets a finished connection.
func (s *Server) untrack(c *wsConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if !c.dropped {
		s.counted--
		s.unpendLocked(c)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Close closes every open connection with 1001 (going away) and waits until
// their goroutines have ended. Use it after http.Server.Shutdown, which does
// not touch WebSockets.
func (s *Server) Close() {
	s.mu.Lock()
	for c := range s.conns {
		c.Close(int(websocket.StatusGoingAway), "server shutting down")
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Wait waits until every connection has ended, for example after the room
// expired and closed them all.
func (s *Server) Wait() { s.wg.Wait() }

// answered records an error the room answered.
func (s *Server) answered(c *wsConn, err error) {
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr == nil {
		return
	}
	if s.opts.Metrics != nil {
		s.opts.Metrics.Error(perr.Code)
	}
	level := slog.LevelDebug
	if perr.Fatal() {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "refused", "conn", c.id, "code", string(perr.Code))
}

// failed counts a hello answered link-invalid against c's source.
func (s *Server) failed(c *wsConn, err error) {
	var perr *protocol.Error
	if s.penalty != nil && errors.As(err, &perr) && perr != nil && perr.Code == protocol.CodeLinkInvalid {
		s.penalty.fail(c.source)
	}
}
