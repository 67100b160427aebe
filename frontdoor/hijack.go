package frontdoor

import (
	"bufio"
	"net"
	"net/http"
)

// Hijack hands the connection to the proxy for a WebSocket, wrapped so
// that the room server's end of the WebSocket ends the browser's too.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return upgradedConn{conn}, brw, nil
}

// upgradedConn is a browser's connection after a WebSocket upgrade.
type upgradedConn struct{ net.Conn }

// CloseWrite closes the whole connection. The proxy calls it when the room
// server has closed its side (at the end of a call, or to drop a socket
// that never said hello) and then waits for the browser to close its own;
// a browser does so at once, a flood's idle socket never would and would
// hold the front door's buffers and its place under the limits for good.
func (c upgradedConn) CloseWrite() error { return c.Close() }
