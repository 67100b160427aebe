package turn

import (
	"bufio"
	"net"
)

// tcpReadBuffer is the read buffer of a TURN-over-TCP connection: room for
// six full-size ChannelData frames per read system call, where pion reads
// into a 1600-byte buffer, so about one system call per frame. At
// DefaultMaxTCPConns connections it holds 32 MiB at most.
const tcpReadBuffer = 8 << 10

// bufferedListener hands out connections that read through a
// tcpReadBuffer. Only for plain TCP: crypto/tls reads its records in
// large chunks itself.
type bufferedListener struct{ net.Listener }

// Accept implements net.Listener.
func (l bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, tcpReadBuffer)}, nil
}

// bufferedConn reads through r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read implements net.Conn.
func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
