package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

func TestPenaltyGrowsPerSourceAndIsForgotten(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := &clock{now: start}
	p := newPenalties(3, 250*time.Millisecond, 2*time.Second, time.Minute, 3, c.Now)
	steps := []struct {
		name      string
		advance   time.Duration
		fail      string // a source that fails before the check, if any
		source    string
		wantDelay time.Duration
	}{
		{"fresh source", 0, "", "a", 0},
		{"one failure", 0, "a", "a", 0},
		{"two failures", 0, "a", "a", 0},
		{"three failures: the next waits", 0, "a", "a", 250 * time.Millisecond},
		{"another source is not slowed", 0, "", "b", 0},
		{"four", 0, "a", "a", 500 * time.Millisecond},
		{"five", 0, "a", "a", time.Second},
		{"six", 0, "a", "a", 2 * time.Second},
		{"capped", 0, "a", "a", 2 * time.Second},
		{"still remembered before forget", 59 * time.Second, "", "a", 2 * time.Second},
		{"forgotten a minute after the last failure", time.Second, "", "a", 0},
		{"counting starts again", 0, "a", "a", 0},
	}
	for _, st := range steps {
		c.add(st.advance)
		if st.fail != "" {
			p.fail(st.fail)
		}
		if got := p.delay(st.source); got != st.wantDelay {
			t.Fatalf("%s: delay %v, want %v", st.name, got, st.wantDelay)
		}
	}
}

func TestPenaltiesAreBounded(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	p := newPenalties(0, time.Second, time.Second, time.Minute, 3, c.Now)
	for _, src := range []string{"a", "b", "c", "d"} {
		c.add(time.Second)
		p.fail(src)
	}
	if len(p.sources) != 3 {
		t.Fatalf("%d sources held, want at most 3", len(p.sources))
	}
	if p.delay("a") != 0 || p.delay("d") != time.Second {
		t.Fatal("not the source that failed longest ago was forgotten")
	}
	c.add(time.Hour)
	p.fail("e") // the expired ones go first
	if len(p.sources) != 1 {
		t.Fatalf("%d sources held after expiry, want 1", len(p.sources))
	}
}

// TestGuessingSlowsTheGuesserOnly: hellos with tokens that are not the
// room's make the next hellos from the same source wait, growing; a hello
// from another source, a valid one included, never waits.
func TestGuessingSlowsTheGuesserOnly(t *testing.T) {
	pauses := make(chan time.Duration, 16)
	h := newHarness(t, func(_ *config.Config, _ *room.Config, o *Options) {
		o.PenaltyBase, o.PenaltyMax = 250*time.Millisecond, time.Second
		o.pause = func(_ context.Context, d time.Duration) bool { pauses <- d; return true }
	})
	steps := []struct {
		name      string
		source    string // the front door's pseudonym; empty: the peer address
		token     string
		wantPause time.Duration
	}{
		{"first guess", "guesser", "wrong-1", 0},
		{"second guess", "guesser", "wrong-2", 0},
		{"third guess", "guesser", "wrong-3", 0},
		{"the guesser's next hello waits, a valid one too", "guesser", therapistToken, 250 * time.Millisecond},
		{"a real user from another source does not", "client-home", clientToken, 0},
		{"fourth guess", "guesser", "wrong-4", 250 * time.Millisecond},
		{"fifth guess", "guesser", "wrong-5", 500 * time.Millisecond},
		{"sixth guess", "guesser", "wrong-6", time.Second},
		{"capped", "guesser", "wrong-7", time.Second},
		{"the peer address is another source", "", "wrong-8", 0},
	}
	for _, st := range steps {
		var opts *websocket.DialOptions
		if st.source != "" {
			opts = &websocket.DialOptions{HTTPHeader: http.Header{protocol.SourceHeader: {st.source}}}
		}
		c := h.dialWith(opts)
		go c.readLoop()
		c.send(protocol.TypeHello, `{"version":2,"token":"`+st.token+`"}`)
		env := c.next()
		if valid := st.token == therapistToken || st.token == clientToken; valid != (env.Type == protocol.TypeWelcome) {
			t.Fatalf("%s: answered %s %s", st.name, env.Type, env.Data)
		}
		var got time.Duration
		select {
		case got = <-pauses:
		default:
		}
		if got != st.wantPause {
			t.Fatalf("%s: hello waited %v, want %v", st.name, got, st.wantPause)
		}
		// The server has counted the failure once the connection has ended.
		_ = c.ws.CloseNow()
		h.server.Wait()
	}
	if got := scrape(t, h, "sprechzimmer_signaling_hellos_delayed_total"); got != 5 {
		t.Errorf("hellos_delayed_total = %v, want 5", got)
	}
}
