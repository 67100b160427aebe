package server

import (
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// BenchmarkRelayOverWebSocket measures one candidate from the therapist's
// WebSocket to the client's on loopback: both frames, the server's reader,
// rate limiter, room and writer. One at a time, so it is a latency.
func BenchmarkRelayOverWebSocket(b *testing.B) {
	h := newHarness(b, func(_ *config.Config, _ *room.Config, o *Options) {
		o.Rate, o.Burst = 1e9, 1e9
	})
	therapist, client := h.pair()
	frame := `{"type":"candidate","data":{"candidate":"candidate:842163049 1 udp 1677729535 198.51.100.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdpMid":"0","sdpMLineIndex":0}}`
	for b.Loop() {
		therapist.sendRaw(frame)
		select {
		case env := <-client.msgs:
			if env.Type != protocol.TypeCandidate {
				b.Fatalf("got %s", env.Type)
			}
		case <-time.After(wait):
			b.Fatal("candidate not relayed")
		}
	}
}
