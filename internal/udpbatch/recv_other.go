//go:build !linux

package udpbatch

import "net"

func newBatchReader(conn *net.UDPConn, bufs [][]byte) batchReader {
	return newPortableReader(conn, bufs)
}
