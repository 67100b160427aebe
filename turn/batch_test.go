package turn_test

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// TestBurstsArriveWholeAndInOrder sends bursts through one allocation both
// ways, faster than the server relays them one by one, so that it reads
// and writes them in batches: every datagram arrives, whole and in order,
// as a call's media must, with batching and without, over UDP, TCP and
// TLS. Batched, TCP and TLS clients get their frames coalesced into few
// writes; without batching pion writes each.
func TestBurstsArriveWholeAndInOrder(t *testing.T) {
	tests := []struct {
		name      string
		batch     int
		transport string // udp when empty
	}{
		{name: "udp, batches of 32", batch: 32},
		{name: "udp, batches of 4", batch: 4},
		{name: "udp, no batching", batch: 1},
		{name: "tcp, batches of 32", batch: 32, transport: "tcp"},
		{name: "tcp, no batching", batch: 1, transport: "tcp"},
		{name: "tls, batches of 32", batch: 32, transport: "tls"},
		{name: "tls, no batching", batch: 1, transport: "tls"},
	}
	const burst, size = 208, 1000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := turn.Config{BatchSize: tt.batch}
			var ca *turntest.CA
			if tt.transport == "tls" {
				ca, cfg.TLSCertFile, cfg.TLSKeyFile = testCert(t)
				cfg.TLSAddress = "127.0.0.1:0"
			}
			srv := startLoopback(t, cfg)
			addr := srv.UDPAddr()
			switch tt.transport {
			case "tcp":
				addr = srv.TCPAddr()
			case "tls":
				addr = turntest.TLSAddr{Addr: srv.TLSAddr().(*net.TCPAddr), Config: tlsClient(ca)}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cred := turncred.Mint([]byte(testSecret), "room-burst", time.Now().Add(time.Hour))
			alloc, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
			if err != nil {
				t.Fatalf("Allocate() = %v", err)
			}
			t.Cleanup(alloc.Close)
			peer := udpPeer(t)
			_ = peer.SetReadBuffer(4 << 20)
			assertRelays(t, alloc) // binds the channel: the burst is ChannelData

			deadline := time.Now().Add(20 * time.Second)
			_ = peer.SetReadDeadline(deadline)
			_ = alloc.Relay.SetReadDeadline(deadline)
			numbered := func(i int) []byte {
				p := make([]byte, size)
				binary.BigEndian.PutUint32(p, uint32(i))
				return p
			}
			// Client to peer: the whole burst is sent before the peer reads.
			for i := range burst {
				if _, err := alloc.Relay.WriteTo(numbered(i), peer.LocalAddr()); err != nil {
					t.Fatalf("client WriteTo %d: %v", i, err)
				}
			}
			buf := make([]byte, 2*size)
			var relay net.Addr
			for i := range burst {
				n, from, err := peer.ReadFrom(buf)
				if err != nil {
					t.Fatalf("peer got %d of %d datagrams: %v", i, burst, err)
				}
				if got := binary.BigEndian.Uint32(buf); n != size || got != uint32(i) {
					t.Fatalf("peer's datagram %d: number %d, %d bytes; want %d, %d bytes", i, got, n, i, size)
				}
				relay = from
			}
			// Peer to client, in bursts of 16: the pion client behind the
			// client socket holds fewer datagrams than the peer can send.
			const chunk = 16
			for first := 0; first < burst; first += chunk {
				for i := first; i < first+chunk; i++ {
					if _, err := peer.WriteTo(numbered(i), relay); err != nil {
						t.Fatalf("peer WriteTo %d: %v", i, err)
					}
				}
				for i := first; i < first+chunk; i++ {
					n, _, err := alloc.Relay.ReadFrom(buf)
					if err != nil {
						t.Fatalf("client got %d of %d datagrams: %v", i, burst, err)
					}
					if got := binary.BigEndian.Uint32(buf); n != size || got != uint32(i) {
						t.Fatalf("client's datagram %d: number %d, %d bytes; want %d, %d bytes", i, got, n, i, size)
					}
				}
			}
		})
	}
}
