//go:build linux

package udpbatch

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestPortableReaderHandsOutEachDatagramWithItsSender reads through the
// reader that Linux uses only where a socket gives no raw access (and
// other systems always): golang.org/x/net's ReadBatch on the Conn's own
// batchConn, for an IPv4 and a dual-stack socket.
func TestPortableReaderHandsOutEachDatagramWithItsSender(t *testing.T) {
	sockets := []struct{ network, address string }{{"udp4", "127.0.0.1:0"}, {"udp", ":0"}}
	for _, socket := range sockets {
		t.Run(socket.network, func(t *testing.T) {
			c := New(listen(t, socket.network, socket.address), &Group{}, 4, 4)
			t.Cleanup(func() { _ = c.Close() })
			c.reader = newPortableReader(c.batch, c.reader.(*mmsgReader).bufs)
			to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.LocalAddr().(*net.UDPAddr).Port}
			senders := []*net.UDPConn{listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")}
			sizes := []int{1, 1200, 0, MaxDatagram, 7}
			for i, size := range sizes {
				if _, err := senders[i%2].WriteTo(payload(i, size), to); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, MaxDatagram)
			for i, size := range sizes {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if !bytes.Equal(buf[:n], payload(i, size)) {
					t.Errorf("datagram %d: got %d bytes, want %d", i, n, size)
				}
				want := senders[i%2].LocalAddr().(*net.UDPAddr)
				if got, ok := from.(*net.UDPAddr); !ok || !got.IP.Equal(want.IP) || got.Port != want.Port {
					t.Errorf("datagram %d: sender %v, want %v", i, from, want)
				}
			}
		})
	}
}
