package e2e

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// gateMode is what a tcpGate does with a connection.
type gateMode int

const (
	// gateOpen forwards connections to the server.
	gateOpen gateMode = iota
	// gateRefused refuses connections, as a stopped server does.
	gateRefused
	// gateSwallowing accepts connections and never answers, as a network
	// that swallows packets does (a dead Wi-Fi, a captive portal).
	gateSwallowing
	// gateStallingUpload forwards what the browser sends up to the end of
	// its request's headers and holds everything after: the server hears
	// the WebSocket's opening but not the hello behind it, as from a tab
	// stalled on a busy phone.
	gateStallingUpload
)

// tcpGate stands between the browsers and a server on a loopback address
// of its own: open it forwards, shut it cuts every connection and refuses
// or swallows new ones.
type tcpGate struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	mode  gateMode
	ln    net.Listener
	conns map[net.Conn]bool
}

// startGate opens a gate to target (host:port) until the test ends.
func startGate(t testing.TB, target string) *tcpGate {
	t.Helper()
	g := &tcpGate{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	g.serve(ln)
	t.Cleanup(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.ln != nil {
			_ = g.ln.Close()
		}
		g.cutLocked()
	})
	return g
}

// serve accepts on ln until it is closed.
func (g *tcpGate) serve(ln net.Listener) {
	g.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			mode := g.mode
			g.conns[c] = true
			g.mu.Unlock()
			if mode == gateOpen || mode == gateStallingUpload {
				go g.forward(c, mode == gateStallingUpload)
			}
		}
	}()
}

// forward copies between c and a new connection to the target; with
// stallUpload only c's request headers go up, nothing after them.
func (g *tcpGate) forward(c net.Conn, stallUpload bool) {
	up, err := net.Dial("tcp4", g.target)
	if err != nil {
		_ = c.Close()
		return
	}
	g.mu.Lock()
	g.conns[up] = true
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	if stallUpload {
		go func() {
			_ = copyHeaders(up, c)
			_, _ = io.Copy(io.Discard, c)
			done <- struct{}{}
		}()
	} else {
		go pipe(up, c)
	}
	go pipe(c, up)
	<-done
	_ = c.Close()
	_ = up.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
}

// copyHeaders copies from src to dst up to and including the first blank
// line (the end of an HTTP request's headers).
func copyHeaders(dst io.Writer, src io.Reader) error {
	var seen []byte
	buf := make([]byte, 1)
	for !bytes.HasSuffix(seen, []byte("\r\n\r\n")) {
		if _, err := io.ReadFull(src, buf); err != nil {
			return err
		}
		seen = append(seen, buf[0])
	}
	_, err := dst.Write(seen)
	return err
}

// set switches the gate to mode; shut modes cut every connection.
func (g *tcpGate) set(mode gateMode) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode = mode
	if mode != gateOpen {
		g.cutLocked()
	}
	switch {
	case mode == gateRefused && g.ln != nil:
		_ = g.ln.Close()
		g.ln = nil
	case mode != gateRefused && g.ln == nil:
		// The same address again: the pages keep their URL.
		ln, err := net.Listen("tcp4", g.addr)
		if err != nil {
			g.t.Fatalf("reopening the gate on %s: %v", g.addr, err)
		}
		g.serve(ln)
	}
}

// cutLocked closes every connection through the gate (g.mu held).
func (g *tcpGate) cutLocked() {
	for c := range g.conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			g.t.Logf("gate: closing a connection: %v", err)
		}
		delete(g.conns, c)
	}
}
