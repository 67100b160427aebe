package turn

import (
	"net"
	"time"

	"golang.org/x/net/netutil"
)

// DefaultMaxTCPConns is the default Config.MaxTCPConns.
const DefaultMaxTCPConns = 4096

// tcpIdleTimeout closes TURN-over-TCP connections that send nothing for
// this long. It is the longest allocation lifetime a client can ask for
// (RFC 8656 allows up to an hour, pion's default is 10 minutes; clients
// refresh well before), so a connection carrying a live allocation is never
// cut, while idle connections do not pile up.
const tcpIdleTimeout = time.Hour

// guardListener limits simultaneous TCP connections to max (Accept waits
// for a free slot) and closes connections idle for tcpIdleTimeout.
func guardListener(ln net.Listener, max int) net.Listener {
	return idleListener{netutil.LimitListener(ln, max)}
}

type idleListener struct{ net.Listener }

// Accept implements net.Listener.
func (l idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &idleConn{Conn: c}, nil
}

// idleConn pushes its read deadline forward on every read.
type idleConn struct{ net.Conn }

// Read implements net.Conn.
func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.SetReadDeadline(time.Now().Add(tcpIdleTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}
