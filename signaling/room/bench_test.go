package room

import (
	"context"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// discard is a Conn that drops what it is sent.
type discard struct{}

func (discard) Send([]byte)                 {}
func (discard) Close(int, string)           {}
func (discard) Probe(context.Context) error { return nil }

// BenchmarkRelayCandidate measures one candidate through the room: its
// data decoded, the lock, re-encoding and the hand-over to the other
// person's connection.
func BenchmarkRelayCandidate(b *testing.B) {
	r := New(Config{
		Therapist: jointoken.Of(therapistToken), Client: jointoken.Of(clientToken),
		ExpiresAt: start.Add(time.Hour), TermsVersion: terms, Now: func() time.Time { return start },
	})
	therapist, client := r.Connect(discard{}), r.Connect(discard{})
	for _, step := range []struct {
		m   *Member
		env *protocol.Envelope
	}{
		{therapist, hello(therapistToken)}, {therapist, msg(protocol.TypeJoin, `{}`)},
		{client, hello(clientToken)}, {client, msg(protocol.TypeJoin, `{`+consent+`}`)},
	} {
		if err := step.m.Receive(step.env); err != nil {
			b.Fatal(err)
		}
	}
	cand := msg(protocol.TypeCandidate, `{"candidate":"candidate:842163049 1 udp 1677729535 198.51.100.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdpMid":"0","sdpMLineIndex":0}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := therapist.Receive(cand); err != nil {
			b.Fatal(err)
		}
	}
}
