package turn

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"math"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// TURN over TCP and TLS carries STUN messages and ChannelData frames in
// one byte stream (RFC 8656 section 12.5, ChannelData padded to a multiple
// of 4 bytes). A streamConn sits between such a connection and pion: it
// reads the stream in large chunks, relays ChannelData frames on bound
// channels itself (see routes.go) and hands pion every other frame, in
// order. What goes to the client, ChannelData from peers and pion's own
// responses alike, is queued and written by one goroutine per connection,
// all that has gathered in one write: one system call, and over TLS one
// record of up to 16 KiB, for many frames, where pion writes each frame by
// itself. A client that does not take its frames fast enough loses
// ChannelData frames beyond streamQueue bytes, as a UDP client would lose
// datagrams; it cannot hold up other clients.

// streamReadBuffer is what a stream connection reads per system call at
// first: room for six full-size ChannelData frames. A connection whose
// reads fill it grows it, up to maxStreamReadBuffer, so that a busy one
// reads more per system call while idle ones hold little.
const (
	streamReadBuffer    = 8 << 10
	maxStreamReadBuffer = 32 << 10
)

// streamQueue bounds the ChannelData waiting to be written to one stream
// connection: about a quarter second of a 2 Mbit/s call.
const streamQueue = 64 << 10

// tlsHandshakeTimeout bounds a TLS client's handshake, as pion bounds it
// for the *tls.Conn connections it sees.
const tlsHandshakeTimeout = 10 * time.Second

// streamListener hands pion its connections wrapped in streamConns.
type streamListener struct {
	net.Listener
	routes *routes
	group  *udpbatch.Group
	drops  prometheus.Counter
}

// Accept implements net.Listener.
func (l streamListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := &streamConn{Conn: c, routes: l.routes, group: l.group, rbuf: make([]byte, streamReadBuffer)}
	s.key, s.keyOK = keyOf(c.RemoteAddr(), c.LocalAddr())
	s.w = &streamWriter{conn: c, group: l.group, drops: l.drops, wake: make(chan struct{}, 1), done: make(chan struct{})}
	return s, nil
}

// streamConn is one TURN-over-TCP or TLS connection as pion sees it. Its
// Read is called by one goroutine at a time (pion's read loop).
type streamConn struct {
	net.Conn
	routes *routes
	group  *udpbatch.Group
	key    routeKey
	keyOK  bool
	route  *route // the connection's allocation, once known
	w      *streamWriter

	handshaken bool
	rbuf       []byte
	start, end int  // rbuf[start:end] is read and not yet used
	pass       int  // bytes of the frame being handed to pion still to go
	inBatch    bool // counts as a reader in group's batch
	closeOnce  sync.Once
}

// Read implements net.Conn: it hands pion the next frame that is not
// ChannelData on a bound channel, or as much of it as fits p.
func (c *streamConn) Read(p []byte) (int, error) {
	if !c.handshaken {
		if err := c.handshake(); err != nil {
			return 0, err
		}
	}
	for {
		if c.pass > 0 && c.start < c.end {
			c.leaveBatch()
			n := copy(p, c.rbuf[c.start:min(c.end, c.start+c.pass)])
			c.start += n
			c.pass -= n
			return n, nil
		}
		if c.pass == 0 && c.start < c.end {
			size, known := frameSize(c.rbuf[c.start:c.end])
			switch {
			case !known: // fewer than 4 bytes: read on
			case size <= c.end-c.start:
				if c.relay(c.rbuf[c.start : c.start+size]) {
					c.start += size
				} else {
					c.pass = size
				}
				continue
			case size > len(c.rbuf): // larger than the buffer: pion's
				c.pass = size
				continue
			}
		}
		// More bytes are needed: send what was relayed, then read.
		c.leaveBatch()
		if c.start > 0 {
			c.end = copy(c.rbuf, c.rbuf[c.start:c.end])
			c.start = 0
		}
		room := len(c.rbuf) - c.end
		n, err := c.Conn.Read(c.rbuf[c.end:])
		c.end += n
		if n == room && len(c.rbuf) < maxStreamReadBuffer {
			c.rbuf = append(c.rbuf, make([]byte, len(c.rbuf))...)
		}
		if n == 0 && err != nil {
			return 0, err
		}
	}
}

// handshake completes a TLS handshake within tlsHandshakeTimeout (pion
// does it for the *tls.Conn it no longer sees).
func (c *streamConn) handshake() error {
	c.handshaken = true
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	defer cancel()
	return tc.HandshakeContext(ctx)
}

// frameSize is the size of the frame that b begins with, padding included;
// known is false while fewer than 4 bytes are there. What is neither STUN
// nor ChannelData is given to pion whole, which refuses it.
func frameSize(b []byte) (size int, known bool) {
	if len(b) < channelHeader {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	switch {
	case b[0]&0xc0 == 0: // STUN: a 20-byte header before the attributes
		return 20 + n, true
	case isChannelData(b):
		return channelHeader + (n+3)&^3, true
	}
	return math.MaxInt, true
}

// relay relays frame if it is ChannelData on a bound channel, and reports
// whether it did.
func (c *streamConn) relay(frame []byte) bool {
	rt := c.currentRoute()
	if rt == nil || !isChannelData(frame) {
		return false
	}
	if !c.inBatch && c.group != nil {
		c.group.Enter()
		c.inBatch = true
	}
	return rt.fromClient(frame)
}

// currentRoute is the connection's allocation, looked up until pion has
// made it and again once it is gone; the route learns where its
// ChannelData for the client goes.
func (c *streamConn) currentRoute() *route {
	if c.route != nil && c.route.relay.route.Load() == c.route {
		return c.route
	}
	c.route = nil
	if !c.keyOK {
		return nil
	}
	rt := c.routes.lookup(c.key)
	if rt == nil {
		return nil
	}
	rt.stream.Store(c.w)
	c.route = rt
	return rt
}

// leaveBatch sends the datagrams relayed since the last read.
func (c *streamConn) leaveBatch() {
	if c.inBatch {
		c.inBatch = false
		c.group.Leave()
	}
}

// Write implements net.Conn: pion's messages join the queue, never
// dropped, so that they keep their order with the relayed frames.
func (c *streamConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// Close implements net.Conn.
func (c *streamConn) Close() error {
	c.closeOnce.Do(func() { close(c.w.done) })
	return c.Conn.Close()
}

// streamWriter writes to one stream connection from its own goroutine
// whatever has been queued since its last write, in one write.
type streamWriter struct {
	conn  net.Conn
	group *udpbatch.Group
	drops prometheus.Counter

	mu      sync.Mutex
	pending []byte // queued for the next write
	spare   []byte // the buffer of the write before, reused
	woken   bool   // a wake-up is asked for or on its way
	started bool   // the goroutine runs
	err     error  // the write error that ended the goroutine
	wake    chan struct{}
	done    chan struct{} // closed when the connection is closed
}

// writeFrame queues head, p and pad zero bytes as one ChannelData frame,
// or drops it when the queue is full or the connection broken.
func (w *streamWriter) writeFrame(head, p []byte, pad int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || len(w.pending)+len(head)+len(p)+pad > streamQueue {
		w.drops.Inc()
		return
	}
	w.pending = append(w.pending, head...)
	w.pending = append(w.pending, p...)
	w.pending = append(w.pending, make([]byte, pad)...)
	w.kickLocked()
}

// Write queues p whatever the queue holds.
func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.pending = append(w.pending, p...)
	w.kickLocked()
	return len(p), nil
}

// kickLocked has the goroutine write the queue: at the end of the batch
// in progress, so that the frames of one batch leave in one write, or at
// once outside a batch. Called with mu held.
func (w *streamWriter) kickLocked() {
	if w.woken {
		return
	}
	w.woken = true
	if !w.started {
		w.started = true
		go w.run()
	}
	if w.group == nil || !w.group.Later(w) {
		w.Flush()
	}
}

// Flush implements udpbatch.Flusher: it wakes the goroutine.
func (w *streamWriter) Flush() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes the queue whenever woken, until the connection is closed or
// a write fails.
func (w *streamWriter) run() {
	for {
		select {
		case <-w.wake:
		case <-w.done:
			return
		}
		w.mu.Lock()
		buf := w.pending
		w.pending, w.spare = w.spare[:0], nil
		w.woken = false
		w.mu.Unlock()
		_, err := w.conn.Write(buf)
		w.mu.Lock()
		if cap(buf) <= 2*streamQueue { // a rare huge write is not kept
			w.spare = buf[:0]
		}
		if err != nil {
			w.err = errors.Join(errStreamBroken, err)
		}
		w.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// errStreamBroken ends writing to a stream connection after a failed write.
var errStreamBroken = errors.New("turn stream connection broken")
