package server

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/internal/flood"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// TestFloodOfSilentSocketsLeavesRoomForThePair floods the room with
// WebSockets that never say hello, the way an outsider who knows only the
// room's URL can: the room keeps a bounded number of connections (and so
// of goroutines and memory), and the therapist and the client still get in
// and negotiate while the flood goes on.
func TestFloodOfSilentSocketsLeavesRoomForThePair(t *testing.T) {
	const perPhase = 1000
	h := newHarness(t)
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	baseGoroutines, baseMem := settledUsage()

	// Phase 1: the flood fills every slot there is.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conns, res := flood.Run(ctx, addr, "/ws", perPhase, 8, nil)
	t.Cleanup(func() { flood.CloseAll(conns) })
	if res.Opened == 0 {
		t.Fatalf("the flood opened nothing: %+v", res)
	}

	// Phase 2: more of it, while the pair comes in the way the page does,
	// reconnecting when a socket is dropped or refused.
	phase2 := make(chan []interface{ Close() error }, 1)
	go func() {
		more, _ := flood.Run(ctx, addr, "/ws", perPhase, 8, nil)
		out := make([]interface{ Close() error }, len(more))
		for i, c := range more {
			out[i] = c
		}
		phase2 <- out
	}()
	therapist, tries := h.enterDespiteFlood(protocol.RoleTherapist)
	client, clientTries := h.enterDespiteFlood(protocol.RoleClient)
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	negotiate(therapist, client)
	more := <-phase2
	t.Cleanup(func() {
		for _, c := range more {
			_ = c.Close()
		}
	})
	t.Logf("flood: %+v then %d more; the pair needed %d and %d attempts", res, len(more), tries, clientTries)

	// The room holds no more than its caps, and neither does the process.
	h.awaitConnsAtMost(DefaultMaxConns)
	goroutines, mem := settledUsage()
	// Three goroutines a connection (reader, writer, pinger), and slack for
	// the test's own and the runtime's.
	if grown := goroutines - baseGoroutines; grown > 3*DefaultMaxConns+50 {
		t.Errorf("goroutines grew by %d with %d sockets opened", grown, res.Opened+len(more))
	}
	if grown := int64(mem) - int64(baseMem); grown > 24<<20 {
		t.Errorf("heap and stacks grew by %d MiB with %d sockets opened", grown>>20, res.Opened+len(more))
	}
	// The pair is still there and still talks.
	negotiate(client, therapist)
}

// TestCapsDropTheLongestWaitingAndRefuseWhenAllSaidHello checks the caps
// one connection at a time: a new socket pushes out the one that has
// waited longest for its hello, a welcomed one is never pushed out, and
// with every slot welcomed the upgrade is refused with 503.
func TestCapsDropTheLongestWaitingAndRefuseWhenAllSaidHello(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, _ *room.Config, o *Options) {
		o.MaxConns = 3
		o.MaxPending = 2
	})
	// Each dial waits until the server has taken the connection, so that
	// the order of arrival is the order of the dials.
	therapist, _ := h.enter(protocol.RoleTherapist)
	first := h.dialTracked(2)
	second := h.dialTracked(3)
	third := h.dialTracked(4) // pending is full: first makes way
	first.expectDropped()
	client := h.dialTracked(5) // total is full: second makes way
	second.expectDropped()
	client.hello(protocol.RoleClient)
	client.join(protocol.RoleClient, "")
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	h.awaitConnsAtMost(3)
	// third is the only one waiting; a newcomer pushes it out.
	fourth := h.dialTracked(6)
	third.expectDropped()
	fourth.hello(protocol.RoleClient)
	// Now all three said hello: the next upgrade is refused before it is
	// one.
	h.awaitConnsAtMost(3)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, res, err := websocket.Dial(ctx, h.wsURL(), nil)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable || !res.Close {
		t.Fatalf("upgrade with every slot welcomed: %v %+v", err, res)
	}
	negotiate(therapist, client)
}

// dialTracked dials a live tab and waits until the server has taken it
// as its n-th connection.
func (h *harness) dialTracked(n uint64) *client {
	h.t.Helper()
	c := h.dial()
	deadline := time.Now().Add(wait)
	for {
		h.server.mu.Lock()
		got := h.server.nextID
		h.server.mu.Unlock()
		if got >= n {
			return c
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the server took %d connections, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectDropped waits until the server ended the connection without a
// close frame (1006 to a browser, which reconnects).
func (c *client) expectDropped() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(wait):
		c.t.Fatal("not dropped within the deadline")
	}
	if got := websocket.CloseStatus(c.endErr); got != -1 {
		c.t.Fatalf("closed with %d, want a drop without close frame", got)
	}
}

// enterDespiteFlood comes in as role the way the page does: it dials,
// says hello and, when the socket is refused or dropped before welcome,
// tries again. It returns the joined tab and the number of attempts.
func (h *harness) enterDespiteFlood(role protocol.Role) (*client, int) {
	h.t.Helper()
	for attempt := 1; attempt <= 200; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		ws, _, err := websocket.Dial(ctx, h.wsURL(), nil)
		if err == nil {
			err = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","data":{"version":2,"token":"`+tokenOf(role)+`"}}`))
		}
		cancel()
		if err != nil {
			continue
		}
		c := &client{t: h.t, ws: ws, msgs: make(chan *protocol.Envelope, 1024), done: make(chan struct{})}
		h.t.Cleanup(func() { _ = ws.CloseNow() })
		go c.readLoop()
		select {
		case env := <-c.msgs:
			if env.Type != protocol.TypeWelcome {
				h.t.Fatalf("got %s %s, want welcome", env.Type, env.Data)
			}
			c.join(role, "")
			return c, attempt
		case <-c.done:
			// Dropped before welcome: the page reconnects.
		case <-time.After(wait):
			h.t.Fatal("no welcome within the deadline")
		}
	}
	h.t.Fatalf("%s never got in", role)
	return nil, 0
}

// awaitConnsAtMost waits until the server runs at most n connections:
// dropped ones end a moment after they were dropped.
func (h *harness) awaitConnsAtMost(n int) {
	h.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		h.server.mu.Lock()
		got := len(h.server.conns)
		h.server.mu.Unlock()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d connections running, want at most %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settledUsage returns the number of goroutines and the bytes of heap and
// stacks in use after a garbage collection.
func settledUsage() (int, uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapInuse + m.StackInuse
}

func TestLimitsFromConfigAndDefaults(t *testing.T) {
	tests := []struct {
		name                   string
		cfg                    config.Config
		opts                   Options
		wantConns, wantPending int
		wantHello              time.Duration
	}{
		{"defaults", config.Config{}, Options{}, DefaultMaxConns, DefaultMaxPending, DefaultHelloTimeout},
		{"from the environment", config.Config{MaxConnections: 8, MaxPendingConnections: 4, HelloTimeout: 2 * time.Second}, Options{}, 8, 4, 2 * time.Second},
		{"options win", config.Config{MaxConnections: 8, MaxPendingConnections: 4, HelloTimeout: 2 * time.Second}, Options{MaxConns: 6, MaxPending: 3, HelloTimeout: time.Second}, 6, 3, time.Second},
		{"pending never above the total", config.Config{MaxConnections: 4, MaxPendingConnections: 10}, Options{}, 4, 4, DefaultHelloTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			opts := tt.opts
			opts.Config, opts.Room = &cfg, room.New(room.FromConfig(&cfg))
			s, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.opts.MaxConns != tt.wantConns || s.opts.MaxPending != tt.wantPending || s.opts.HelloTimeout != tt.wantHello {
				t.Fatalf("got %d/%d/%v, want %d/%d/%v", s.opts.MaxConns, s.opts.MaxPending, s.opts.HelloTimeout, tt.wantConns, tt.wantPending, tt.wantHello)
			}
		})
	}
}
