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

// deadlineStep is how far a connection's read deadline may lag behind
// tcpIdleTimeout after the last read: moving a deadline takes locks and a
// timer update, so idleConn moves it at most once per deadlineStep, not
// on each of the thousands of reads per second of a relayed call.
const deadlineStep = time.Minute

// idleConn pushes its read deadline forward as it reads: a connection is
// closed after tcpIdleTimeout, at most deadlineStep more, without a read.
// One goroutine reads it at a time.
type idleConn struct {
	net.Conn
	deadline time.Time // the read deadline set last
}

// Read implements net.Conn.
func (c *idleConn) Read(p []byte) (int, error) {
	if next := time.Now().Add(tcpIdleTimeout); next.Sub(c.deadline) >= deadlineStep {
		if err := c.SetReadDeadline(next); err != nil {
			return 0, err
		}
		c.deadline = next
	}
	return c.Conn.Read(p)
}
