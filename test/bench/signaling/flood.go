package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/flood"
	"github.com/sprechzimmer/sprechzimmer/internal/testpeer"
)

// podGoMemLimit is the GOMEMLIMIT the operator gives a room Pod with the
// default 128Mi limit (controllers/room.go); the flood runs the server
// with it.
const podGoMemLimit = "114085045"

// FloodResult is what Flood measured.
type FloodResult struct {
	// Sockets is the number of upgrades attempted, Workers how many at once.
	Sockets, Workers int
	// Counts are the flood's outcomes.
	flood.Result
	// Took is the time the whole flood took.
	Took time.Duration
	// Idle, Peak and After are the server's memory before, at the highest
	// point during (VmHWM), and after the flood (sockets still held).
	Idle, After Memory
	// PairJoined reports whether the therapist and the client got into the
	// room and connected (ICE and DTLS) while the flood ran.
	PairJoined bool
	// PairErr is why not.
	PairErr error
	// PairAttempts is how many dials the two needed together.
	PairAttempts int
	// PairTook runs from the therapist's first dial to both connected.
	PairTook time.Duration
	// PairDuringFlood reports whether the pair was connected before the
	// flood ended.
	PairDuringFlood bool
}

// Flood opens sockets WebSockets that never say hello to a fresh server,
// workers at a time, and half way through brings a real pair (pion peers)
// into the room, retrying as the page does when a socket is dropped.
func Flood(ctx context.Context, bin string, sockets, workers int) (*FloodResult, error) {
	s, err := StartWith(ctx, bin, map[string]string{"GOMEMLIMIT": podGoMemLimit})
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Stop() }()
	r := &FloodResult{Sockets: sockets, Workers: workers}
	if r.Idle, err = s.Memory(); err != nil {
		return nil, err
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URL, "http://"), "/")
	half := make(chan struct{})
	var once sync.Once
	floodDone := make(chan struct{})
	pairDone := make(chan struct{})
	go func() {
		defer close(pairDone)
		<-half
		start := time.Now()
		attempts, err := pairDespiteFlood(ctx, s)
		r.PairAttempts, r.PairErr = attempts, err
		r.PairJoined = err == nil
		r.PairTook = time.Since(start)
		select {
		case <-floodDone:
		default:
			r.PairDuringFlood = r.PairJoined
		}
	}()
	start := time.Now()
	conns, res := flood.Run(ctx, addr, "/ws", sockets, workers, func(done int) {
		if done >= sockets/2 {
			once.Do(func() { close(half) })
		}
	})
	r.Took = time.Since(start)
	close(floodDone)
	defer flood.CloseAll(conns)
	once.Do(func() { close(half) })
	r.Result = res
	<-pairDone
	if r.After, err = s.Memory(); err != nil {
		return nil, err
	}
	return r, nil
}

// pairDespiteFlood brings the therapist and then the client in with pion
// peers and waits until both are connected; a dial that fails (the socket
// dropped or refused before joined) is tried again after a short pause.
// It returns the number of dials.
func pairDespiteFlood(ctx context.Context, s *Server) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	attempts := 0
	dial := func(token string) (*testpeer.Peer, error) {
		for {
			attempts++
			p, err := testpeer.Dial(ctx, s.WSURL, token, testpeer.WithLoopbackOnly())
			if err == nil {
				return p, nil
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("after %d dials: %w", attempts, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	therapist, err := dial(s.Therapist)
	if err != nil {
		return attempts, fmt.Errorf("therapist: %w", err)
	}
	defer func() { _ = therapist.Close() }()
	client, err := dial(s.Client)
	if err != nil {
		return attempts, fmt.Errorf("client: %w", err)
	}
	defer func() { _ = client.Close() }()
	for _, p := range []*testpeer.Peer{therapist, client} {
		if _, err := awaitEvents(ctx, p, testpeer.EventConnected); err != nil {
			return attempts, err
		}
	}
	return attempts, nil
}

// WriteFloodTable prints r as a Markdown table.
func WriteFloodTable(w io.Writer, r *FloodResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(cells ...string) { _, _ = fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|") }
	row("measure", "value")
	row("---", "---")
	row("sockets attempted (workers at once)", fmt.Sprintf("%d (%d)", r.Sockets, r.Workers))
	row("upgraded (101) / refused / failed", fmt.Sprintf("%d / %d / %d", r.Opened, r.Refused, r.Failed))
	row("flood took", ms(r.Took))
	row("sockets per second", fmt.Sprintf("%.0f", float64(r.Sockets)/r.Took.Seconds()))
	row("RSS before the flood", mib(r.Idle.RSS))
	row("peak RSS during the flood (VmHWM)", mib(r.After.HWM))
	row("RSS after the flood, sockets still held", mib(r.After.RSS))
	pair := verdict(r.PairJoined)
	if r.PairErr != nil {
		pair += " " + r.PairErr.Error()
	}
	row("real pair joined and connected (pion, ICE+DTLS)", pair)
	row("… while the flood still ran", verdict(r.PairDuringFlood))
	row("… dials it needed (both together)", fmt.Sprint(r.PairAttempts))
	row("… from the therapist's first dial to both connected", ms(r.PairTook))
	return tw.Flush()
}
