package turn

import (
	"net"

	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// DefaultBatchSize is the default Config.BatchSize: up to 32 datagrams per
// recvmmsg or sendmmsg on the client-facing UDP sockets.
const DefaultBatchSize = 32

// maxRelayReadBatch caps the read batch of a relay socket, which carries
// one allocation (one browser's stream): its read buffers, 2 KiB per
// datagram, are held for the allocation's life. Write buffers are
// allocated as queues grow, up to the server's batch size.
const maxRelayReadBatch = 8

// batched wraps a UDP socket to read up to reads and write up to writes
// datagrams per system call, tied to the server's other sockets through
// group; a batch size of 1 leaves it as it is, one system call per
// datagram.
func batched(c net.PacketConn, group *udpbatch.Group, reads, writes int) net.PacketConn {
	u, ok := c.(*net.UDPConn)
	if !ok || writes <= 1 {
		return c
	}
	return udpbatch.New(u, group, reads, writes)
}
