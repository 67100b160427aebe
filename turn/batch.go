package turn

import (
	"net"

	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// DefaultBatchSize is the default Config.BatchSize: up to 32 datagrams per
// recvmmsg or sendmmsg on the client-facing UDP sockets.
const DefaultBatchSize = 32

// maxRelayBatch caps the batch of a relay socket, which carries one
// allocation (one browser's stream): its buffers, 2 KiB per datagram for
// reading and again for writing, are held per allocation.
const maxRelayBatch = 8

// batched wraps a UDP socket to read and write up to size datagrams per
// system call, tied to the server's other sockets through group; size 1
// leaves it as it is, one system call per datagram.
func batched(c net.PacketConn, group *udpbatch.Group, size int) net.PacketConn {
	u, ok := c.(*net.UDPConn)
	if !ok || size <= 1 {
		return c
	}
	return udpbatch.New(u, group, size)
}
