package testpeer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/testroom"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// startRoom runs a real signaling server for one room on loopback.
func startRoom(t *testing.T) *testroom.Room {
	t.Helper()
	return testroom.Start(t, testroom.Options{})
}

func dial(t *testing.T, ctx context.Context, wsURL, token string, opts ...Option) *Peer {
	t.Helper()
	p, err := Dial(ctx, wsURL, token, append([]Option{WithLoopbackOnly()}, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// await returns the next event of type want, failing the test at ctx's end.
func await(t *testing.T, ctx context.Context, p *Peer, want EventType) Event {
	t.Helper()
	for {
		select {
		case e := <-p.Events():
			if e.Type == want {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("%s: no %s event", p.Role(), want)
		}
	}
}

// awaitMedia waits until p is connected and has received n RTP packets.
func awaitMedia(t *testing.T, ctx context.Context, p *Peer, n int64) {
	t.Helper()
	for _, step := range []struct {
		name string
		ch   <-chan struct{}
	}{{"connected", p.Connected()}, {"remote track", p.RemoteTrack()}} {
		select {
		case <-step.ch:
		case <-ctx.Done():
			t.Fatalf("%s: never %s", p.Role(), step.name)
		}
	}
	if err := p.AwaitPackets(ctx, n); err != nil {
		t.Fatalf("%s: %v", p.Role(), err)
	}
}

func TestTwoPeersExchangeMedia(t *testing.T) {
	tests := []struct {
		name                   string
		clientFirst            bool
		therapistKind, clientK Kind
	}{
		{"therapist waits, audio both ways", false, Audio, Audio},
		{"client waits, audio both ways", true, Audio, Audio},
		{"therapist sends video, client audio", false, Video, Audio},
		{"therapist sends audio, client video", true, Audio, Video},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			r := startRoom(t)
			first, second := r.Therapist, r.Client
			firstKind, secondKind := tt.therapistKind, tt.clientK
			if tt.clientFirst {
				first, second = second, first
				firstKind, secondKind = secondKind, firstKind
			}
			a := dial(t, ctx, r.WSURL, first, WithKind(firstKind))
			if a.Joined().Peer != nil {
				t.Fatalf("first in the room sees a peer: %+v", a.Joined().Peer)
			}
			b := dial(t, ctx, r.WSURL, second, WithKind(secondKind), WithName("Zweite Person"))
			if got := b.Joined().Peer; got == nil || got.Role != a.Role() {
				t.Fatalf("second sees peer %+v, want role %s", got, a.Role())
			}
			if e := await(t, ctx, a, EventPeerJoined); e.Peer.Name != "Zweite Person" {
				t.Fatalf("peer-joined name %q", e.Peer.Name)
			}
			awaitMedia(t, ctx, a, 10)
			awaitMedia(t, ctx, b, 10)
			if got := await(t, ctx, a, EventRemoteTrack).Kind; got != string(secondKind) {
				t.Errorf("first received a %s track, want %s", got, secondKind)
			}
			if got := await(t, ctx, b, EventRemoteTrack).Kind; got != string(firstKind) {
				t.Errorf("second received a %s track, want %s", got, firstKind)
			}
		})
	}
}

func TestCallResumesAfterTheOtherLeaves(t *testing.T) {
	tests := []struct {
		name   string
		leave  func(context.Context, *Peer) error
		reason string
	}{
		{"hangup", func(ctx context.Context, p *Peer) error { return p.Hangup(ctx) }, protocol.LeftHangup},
		{"tab closed", func(_ context.Context, p *Peer) error { return p.Close() }, protocol.LeftGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r := startRoom(t)
			therapist := dial(t, ctx, r.WSURL, r.Therapist)
			client := dial(t, ctx, r.WSURL, r.Client)
			awaitMedia(t, ctx, therapist, 1)
			awaitMedia(t, ctx, client, 1)

			if err := tt.leave(ctx, client); err != nil {
				t.Fatal(err)
			}
			left := await(t, ctx, therapist, EventPeerLeft).Left
			if left.Role != protocol.RoleClient || left.Reason != tt.reason {
				t.Fatalf("peer-left %+v, want client %s", left, tt.reason)
			}
			_ = client.Close()

			before := therapist.Packets()
			again := dial(t, ctx, r.WSURL, r.Client)
			await(t, ctx, therapist, EventConnected)
			awaitMedia(t, ctx, again, 5)
			if err := therapist.AwaitPackets(ctx, before+5); err != nil {
				t.Fatalf("therapist gets no media from the returning client: %v", err)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := startRoom(t)
	stranger, err := jointoken.New()
	if err != nil {
		t.Fatal(err)
	}
	dial(t, ctx, r.WSURL, r.Therapist)
	dial(t, ctx, r.WSURL, r.Client)
	tests := []struct {
		name      string
		token     string
		opts      []Option
		code      protocol.Code
		closeCode int
	}{
		{"unknown token", stranger, nil, protocol.CodeLinkInvalid, protocol.CloseLinkInvalid},
		{"third person", r.Client, nil, protocol.CodeRoomFull, protocol.CloseRoomFull},
		{"client without consent", r.Client, []Option{WithConsent(nil)}, protocol.CodeConsentRequired, 0},
		{"client with old terms", r.Client, []Option{WithConsent(&protocol.Consent{
			TermsAccepted: true, ProcessingAccepted: true, TermsVersion: "2020-01",
		})}, protocol.CodeConsentRequired, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Dial(ctx, r.WSURL, tt.token, append([]Option{WithLoopbackOnly()}, tt.opts...)...)
			if err == nil {
				_ = p.Close()
				t.Fatal("Dial succeeded")
			}
			var se *ServerError
			if !errors.As(err, &se) || se.Code != tt.code || se.CloseCode != tt.closeCode {
				t.Fatalf("err = %v, want %s with close %d", err, tt.code, tt.closeCode)
			}
		})
	}
}

func TestConnFirstMessageMustBeHello(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := startRoom(t)
	c, err := DialConn(ctx, r.WSURL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Send(ctx, protocol.TypeJoin, protocol.Join{}); err != nil {
		t.Fatal(err)
	}
	env, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := protocol.DecodeData[protocol.ErrorData](env)
	if err != nil || env.Type != protocol.TypeError || data.Code != protocol.CodeHelloRequired {
		t.Fatalf("got %s %+v, want error hello-required", env.Type, data)
	}
	_, err = c.Receive(ctx)
	var ce *ClosedError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseProtocol {
		t.Fatalf("err = %v, want close %d", err, protocol.CloseProtocol)
	}
}

func TestServerClosesThePeer(t *testing.T) {
	tests := []struct {
		name      string
		act       func(t *testing.T, ctx context.Context, r *testroom.Room, therapist *Peer)
		code      protocol.Code
		closeCode int
	}{
		{"appointment over", func(_ *testing.T, _ context.Context, r *testroom.Room, _ *Peer) { r.Room.Expire() },
			protocol.CodeRoomClosed, protocol.CloseRoomClosed},
		{"same person in another window", func(t *testing.T, ctx context.Context, r *testroom.Room, therapist *Peer) {
			dial(t, ctx, r.WSURL, r.Therapist, WithResume(therapist.Joined().Resume))
		}, protocol.CodeReplaced, protocol.CloseReplaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r := startRoom(t)
			therapist := dial(t, ctx, r.WSURL, r.Therapist)
			tt.act(t, ctx, r, therapist)
			e := await(t, ctx, therapist, EventClosed)
			if e.Err.Code != tt.code || e.Err.CloseCode != tt.closeCode {
				t.Fatalf("closed with %v, want %s and close %d", e.Err, tt.code, tt.closeCode)
			}
			select {
			case <-therapist.Closed():
			case <-ctx.Done():
				t.Fatal("Closed not closed")
			}
			if got := therapist.Err(); got == nil || got.Code != tt.code {
				t.Fatalf("Err() = %v, want %s", got, tt.code)
			}
		})
	}
}

func TestCallMovesToAnotherWindow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := startRoom(t)
	therapist := dial(t, ctx, r.WSURL, r.Therapist)
	old := dial(t, ctx, r.WSURL, r.Client)
	awaitMedia(t, ctx, therapist, 1)

	moved := dial(t, ctx, r.WSURL, r.Client, WithResume(old.Joined().Resume))
	if e := await(t, ctx, old, EventClosed); e.Err.Code != protocol.CodeReplaced {
		t.Fatalf("old window closed with %v, want replaced", e.Err)
	}
	if left := await(t, ctx, therapist, EventPeerLeft).Left; left.Reason != protocol.LeftGone {
		t.Fatalf("therapist got peer-left %+v, want gone", left)
	}
	await(t, ctx, therapist, EventPeerJoined)
	before := therapist.Packets()
	awaitMedia(t, ctx, moved, 5)
	if err := therapist.AwaitPackets(ctx, before+5); err != nil {
		t.Fatalf("therapist gets no media from the new window: %v", err)
	}
}
