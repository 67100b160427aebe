package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testpeer"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

// runTimeout bounds one measured run.
const runTimeout = 10 * time.Second

// relayInterval spaces the relay samples so each connection stays under the
// server's rate limit of 20 messages a second (the two sockets take turns).
const relayInterval = 30 * time.Millisecond

// Startup starts and stops bin runs times and returns the exec-to-ready times.
func Startup(ctx context.Context, bin string, runs int) (sample.Sample, error) {
	var out sample.Sample
	for range runs {
		s, err := Start(ctx, bin)
		if err != nil {
			return nil, err
		}
		out = append(out, s.Ready)
		if err := s.Stop(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// JoinResult is what Join measured.
type JoinResult struct {
	// ICEConnected runs from the client's first step (opening the socket,
	// then hello) to the later of the two peers' ICE connected events.
	ICEConnected sample.Sample
	// Connected runs to the later of the two PeerConnections connected
	// (ICE and DTLS done: media can flow).
	Connected sample.Sample
	// InCall is the server's memory while the first call was running.
	InCall Memory
}

// Join measures runs calls on s. In each, the therapist waits in the room;
// the clock starts when the client dials and stops when both peers are
// connected. Both hang up and leave before the next run.
func Join(ctx context.Context, s *Server, runs int) (JoinResult, error) {
	var res JoinResult
	for i := range runs {
		ice, connected, err := joinOnce(ctx, s, func() error {
			if i > 0 {
				return nil
			}
			m, err := s.Memory()
			res.InCall = m
			return err
		})
		if err != nil {
			return res, fmt.Errorf("run %d: %w", i+1, err)
		}
		res.ICEConnected = append(res.ICEConnected, ice)
		res.Connected = append(res.Connected, connected)
	}
	return res, nil
}

func joinOnce(ctx context.Context, s *Server, inCall func() error) (ice, connected time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	therapist, err := testpeer.Dial(ctx, s.WSURL, s.Therapist, testpeer.WithLoopbackOnly())
	if err != nil {
		return 0, 0, fmt.Errorf("therapist: %w", err)
	}
	defer func() { _ = therapist.Close() }()
	start := time.Now()
	client, err := testpeer.Dial(ctx, s.WSURL, s.Client, testpeer.WithLoopbackOnly())
	if err != nil {
		return 0, 0, fmt.Errorf("client: %w", err)
	}
	defer func() { _ = client.Close() }()
	var iceAt, connectedAt time.Time
	for _, p := range []*testpeer.Peer{therapist, client} {
		got, err := awaitEvents(ctx, p, testpeer.EventICEConnected, testpeer.EventConnected)
		if err != nil {
			return 0, 0, err
		}
		iceAt = latest(iceAt, got[testpeer.EventICEConnected].At)
		connectedAt = latest(connectedAt, got[testpeer.EventConnected].At)
	}
	if err := inCall(); err != nil {
		return 0, 0, err
	}
	for _, p := range []*testpeer.Peer{client, therapist} {
		if err := p.Hangup(ctx); err != nil {
			return 0, 0, err
		}
	}
	return iceAt.Sub(start), connectedAt.Sub(start), nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// awaitEvents returns the first of p's events of each wanted type, in
// whatever order pion reports them; other events are dropped.
func awaitEvents(ctx context.Context, p *testpeer.Peer, want ...testpeer.EventType) (map[testpeer.EventType]testpeer.Event, error) {
	got := map[testpeer.EventType]testpeer.Event{}
	for len(got) < len(want) {
		select {
		case e := <-p.Events():
			if e.Type == testpeer.EventFailed || e.Type == testpeer.EventClosed {
				return nil, fmt.Errorf("%s: %s while waiting for %v", p.Role(), e.Type, want)
			}
			if _, seen := got[e.Type]; !seen && slices.Contains(want, e.Type) {
				got[e.Type] = e
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: waiting for %v: %w", p.Role(), want, ctx.Err())
		}
	}
	return got, nil
}

// Relay measures how long one message takes from one person's socket
// through the server to the other's, runs times, the two taking turns.
// Both sides run in this process, so one clock times send and receipt.
func Relay(ctx context.Context, s *Server, runs int) (sample.Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout+time.Duration(runs)*relayInterval)
	defer cancel()
	var conns [2]*testpeer.Conn
	for i, token := range []string{s.Therapist, s.Client} {
		c, err := enterRaw(ctx, s.WSURL, token)
		if err != nil {
			return nil, err
		}
		defer func() { _ = c.Close() }()
		conns[i] = c
	}
	// The therapist was alone when joining and now hears the client enter.
	if _, err := receiveType(ctx, conns[0], protocol.TypePeerJoined); err != nil {
		return nil, err
	}
	end := protocol.Candidate{} // end of candidates: relayed, never acted on
	tick := time.NewTicker(relayInterval)
	defer tick.Stop()
	var out sample.Sample
	for i := range runs {
		from, to := conns[i%2], conns[1-i%2]
		start := time.Now()
		if err := from.Send(ctx, protocol.TypeCandidate, end); err != nil {
			return nil, err
		}
		if _, err := receiveType(ctx, to, protocol.TypeCandidate); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// enterRaw says hello and joins over a bare Conn, with full consent.
func enterRaw(ctx context.Context, wsURL, token string) (*testpeer.Conn, error) {
	c, err := testpeer.DialConn(ctx, wsURL, "")
	if err != nil {
		return nil, err
	}
	if err := helloJoin(ctx, c, token); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func helloJoin(ctx context.Context, c *testpeer.Conn, token string) error {
	if err := c.Send(ctx, protocol.TypeHello, protocol.Hello{Version: protocol.Version, Token: token}); err != nil {
		return err
	}
	env, err := receiveType(ctx, c, protocol.TypeWelcome)
	if err != nil {
		return err
	}
	welcome, err := protocol.DecodeData[protocol.Welcome](env)
	if err != nil {
		return err
	}
	join := protocol.Join{Consent: &protocol.Consent{TermsAccepted: true, ProcessingAccepted: true, TermsVersion: welcome.TermsVersion}}
	if err := c.Send(ctx, protocol.TypeJoin, join); err != nil {
		return err
	}
	_, err = receiveType(ctx, c, protocol.TypeJoined)
	return err
}

// receiveType returns the next message, which must be of type want.
func receiveType(ctx context.Context, c *testpeer.Conn, want protocol.Type) (*protocol.Envelope, error) {
	env, err := c.Receive(ctx)
	if err != nil {
		return nil, err
	}
	if env.Type != want {
		if env.Type == protocol.TypeError {
			return nil, errors.New("server refused: " + string(env.Data))
		}
		return nil, fmt.Errorf("expected %s, got %s", want, env.Type)
	}
	return env, nil
}
