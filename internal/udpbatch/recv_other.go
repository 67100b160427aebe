//go:build !linux

package udpbatch

import "net"

// newBatchReader reads through batch: recvmmsg is Linux's.
func newBatchReader(_ *net.UDPConn, batch batchConn, bufs [][]byte) batchReader {
	return newPortableReader(batch, bufs)
}
