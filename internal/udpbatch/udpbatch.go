// Package udpbatch reads and writes UDP datagrams in batches, one
// recvmmsg or sendmmsg system call for many datagrams, behind the plain
// net.PacketConn interface, so that code written for one datagram per
// ReadFrom and WriteTo (pion/turn's read loops) gets the batching without
// changing.
//
// Reads: a Conn's ReadFrom fills up to its batch size of buffers with one
// recvmmsg and hands the datagrams out one per call; only when they are all
// handed out does it read again. A busy socket thus costs one system call
// and one wake-up of the reading goroutine per batch instead of per
// datagram, and the reader parks only when the socket is empty.
//
// Writes: the Conns of one Group queue what is written to them while any
// reader of the Group is working off a batch it read, and send each Conn's
// queue with one sendmmsg when a reader has handed out its whole batch
// (before it reads again), or when a queue is full. A write while no reader
// of the Group is in a batch (a timer, a TCP connection's goroutine with
// every UDP socket idle) goes out at once. So a datagram is never held
// longer than one reader takes to work off one batch, and a reader that
// relays what it reads sends it in batches.
package udpbatch

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// MaxDatagram is the largest datagram a Conn reads whole: the size of each
// read and write buffer. Larger datagrams are cut to this size (as a
// net.UDPConn cuts them to the caller's buffer).
const MaxDatagram = 2048

// batchConn is what ipv4.PacketConn and ipv6.PacketConn share.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Group ties Conns together whose reads cause writes to each other, as the
// client-facing socket and the relay sockets of one TURN server do: writes
// to any Conn of the Group are queued while a reader of the Group is in a
// batch, and flushed when a reader finishes one. The zero value is ready
// to use.
type Group struct {
	mu     sync.Mutex
	active int       // readers that handed out a datagram and have not asked for the next after their batch
	dirty  []Flusher // Conns with queued writes, and others that asked to be flushed
}

// Flusher is anything that holds writes back while a batch is in progress
// and sends them when asked: a Conn, or a stream connection's writer.
type Flusher interface{ Flush() }

// Later asks for f.Flush at the end of the batch in progress and reports
// true; it reports false when no reader of the Group is in a batch, and
// the caller should flush now.
func (g *Group) Later(f Flusher) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active == 0 {
		return false
	}
	g.dirty = append(g.dirty, f)
	return true
}

// Enter makes the caller count as a reader in a batch until it calls
// Leave: writes to the Group's Conns are queued meanwhile, and Leave
// sends them. For readers that are not Conns (a TCP connection's) and
// relay several messages at once.
func (g *Group) Enter() { g.enter() }

// Leave ends a batch begun with Enter, sending what was queued.
func (g *Group) Leave() { g.leave() }

// leave ends a reader's batch: it flushes what the Group holds back.
// Writes made while it sends go out at once if no other reader is in a
// batch, or with the next batch end.
func (g *Group) leave() {
	// The list is copied to the stack, so that the Group's slice is kept
	// and reused: no allocation per batch.
	var local [16]Flusher
	g.mu.Lock()
	g.active--
	dirty := append(local[:0], g.dirty...)
	clear(g.dirty)
	g.dirty = g.dirty[:0]
	for _, f := range dirty {
		if c, ok := f.(*Conn); ok {
			c.listed = false
		}
	}
	g.mu.Unlock()
	for _, f := range dirty {
		f.Flush()
	}
}

func (g *Group) enter() {
	g.mu.Lock()
	g.active++
	g.mu.Unlock()
}

// Conn is a net.PacketConn over a UDP socket that reads and writes in
// batches. It is safe for concurrent use; one reader at a time is served
// (concurrent ReadFrom calls wait for each other).
type Conn struct {
	udp   *net.UDPConn
	batch batchConn
	group *Group

	rmu       sync.Mutex // guards the read side
	reader    batchReader
	next, n   int  // datagrams next to n-1 of the batch are not yet handed out
	inBatch   bool // this reader counts in group.active
	intercept Intercept
	addrs     map[netip.AddrPort]*net.UDPAddr // senders' addresses, see addrOf

	closeOnce sync.Once
	closed    chan struct{}

	wmu    sync.Mutex // guards the write side
	wmsgs  []ipv4.Message
	wbufs  [][]byte
	queued int  // wmsgs[:queued] wait for Flush
	listed bool // in group.dirty; guarded by group.mu
}

// Intercept is offered every datagram a Conn reads, before ReadFrom hands
// it out, with its sender; it returns true when it has dealt with the
// datagram, which ReadFrom then skips. It runs on the reading goroutine
// within the batch, so what it writes to Conns of the Group is sent with
// the batch's writes. p is valid only until it returns.
type Intercept func(c *Conn, p []byte, from net.Addr) bool

// SetIntercept installs f (nil removes it); call it before reading.
func (c *Conn) SetIntercept(f Intercept) {
	c.rmu.Lock()
	c.intercept = f
	c.rmu.Unlock()
}

// New wraps conn to read up to reads datagrams per system call and to
// queue up to writes datagrams for one; Conns that relay to each other
// share group. Values below 1 mean 1. The read buffers (reads times
// MaxDatagram bytes) are allocated here, write buffers on first use, so a
// Conn that never queues many datagrams holds few. New takes over conn:
// close the Conn, not conn.
func New(conn *net.UDPConn, group *Group, reads, writes int) *Conn {
	reads, writes = max(reads, 1), max(writes, 1)
	c := &Conn{udp: conn, group: group, closed: make(chan struct{})}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && len(a.IP) != 0 {
		c.batch = ipv6.NewPacketConn(conn)
	} else {
		// An IPv4 or unspecified ("[::]" sockets carry IPv4 too) address:
		// ipv4 and ipv6 batches are the same system calls on Linux, and the
		// kernel takes IPv4 destinations on dual-stack sockets.
		c.batch = ipv4.NewPacketConn(conn)
	}
	buf := make([]byte, reads*MaxDatagram)
	bufs := make([][]byte, reads)
	for i := range bufs {
		bufs[i] = buf[i*MaxDatagram : (i+1)*MaxDatagram]
	}
	c.reader = newBatchReader(conn, c.batch, bufs)
	c.addrs = map[netip.AddrPort]*net.UDPAddr{}
	c.wmsgs = make([]ipv4.Message, writes)
	c.wbufs = make([][]byte, writes) // each allocated on its first use
	for i := range c.wmsgs {
		c.wmsgs[i].Buffers = make([][]byte, 1)
	}
	return c
}

// ReadFrom implements net.PacketConn. It returns the next datagram of the
// current batch, or reads a new batch (after sending what the Group queued)
// when the current one is handed out. Deadlines apply to reading a batch;
// datagrams already read are handed out regardless.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	select {
	case <-c.closed:
		c.endBatch()
		return 0, nil, net.ErrClosed
	default:
	}
	for {
		if c.next == c.n {
			c.endBatch()
			n, err := c.reader.read()
			if err != nil {
				return 0, nil, err
			}
			c.next, c.n = 0, n
		}
		data, from := c.reader.datagram(c.next)
		c.next++
		if !c.inBatch && c.group != nil {
			c.group.enter()
			c.inBatch = true
		}
		addr := c.addrOf(from)
		if c.intercept != nil && c.intercept(c, data, addr) {
			continue
		}
		return copy(p, data), addr, nil
	}
}

// maxAddrs bounds a Conn's cache of sender addresses; a full cache is
// emptied.
const maxAddrs = 1024

// addrOf is the sender's address as a net.Addr: the same *net.UDPAddr for
// the same sender each time, so that a steady stream of datagrams costs no
// allocation for it. Callers must not modify it. Called with rmu held.
func (c *Conn) addrOf(from netip.AddrPort) net.Addr {
	if a, ok := c.addrs[from]; ok {
		return a
	}
	if len(c.addrs) >= maxAddrs {
		clear(c.addrs)
	}
	a := net.UDPAddrFromAddrPort(from)
	c.addrs[from] = a
	return a
}

// batchReader reads a batch of datagrams into its buffers and hands out
// each with its sender.
type batchReader interface {
	read() (int, error)
	datagram(i int) ([]byte, netip.AddrPort)
}

// portableReader reads through golang.org/x/net's ReadBatch (the Conn's
// own batchConn), which reads one datagram per system call where the
// system has no recvmmsg.
type portableReader struct {
	batch batchConn
	msgs  []ipv4.Message
}

func newPortableReader(batch batchConn, bufs [][]byte) *portableReader {
	r := &portableReader{batch: batch, msgs: make([]ipv4.Message, len(bufs))}
	for i := range bufs {
		r.msgs[i].Buffers = [][]byte{bufs[i]}
	}
	return r
}

func (r *portableReader) read() (int, error) { return r.batch.ReadBatch(r.msgs, 0) }

func (r *portableReader) datagram(i int) ([]byte, netip.AddrPort) {
	m := &r.msgs[i]
	var from netip.AddrPort
	if a, ok := m.Addr.(*net.UDPAddr); ok {
		from = a.AddrPort()
	}
	return m.Buffers[0][:m.N], from
}

// endBatch takes this reader out of the Group's active readers, sending
// what was queued. Called with rmu held.
func (c *Conn) endBatch() {
	if c.inBatch {
		c.inBatch = false
		c.group.leave()
	}
}

// WriteTo implements net.PacketConn. While a reader of the Group is in a
// batch it queues a copy of p (sent by Flush, at the batch's end or when
// the queue is full) and reports it written; otherwise it sends at once,
// after what is queued. A datagram longer than MaxDatagram is sent at once.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if len(p) > MaxDatagram {
		return c.writeNow(p, addr)
	}
	if err := c.WriteFramed(nil, p, 0, addr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteFramed is WriteTo of the datagram head followed by p and pad zero
// bytes, put together in the write queue without another copy: a
// ChannelData header in front of a relayed datagram. The whole must fit in
// MaxDatagram.
func (c *Conn) WriteFramed(head, p []byte, pad int, addr net.Addr) error {
	if len(head)+len(p)+pad > MaxDatagram {
		return errTooLong
	}
	if c.group == nil {
		return c.writeNowFramed(head, p, pad, addr)
	}
	g := c.group
	g.mu.Lock()
	if g.active == 0 {
		g.mu.Unlock()
		return c.writeNowFramed(head, p, pad, addr)
	}
	if !c.listed {
		c.listed = true
		g.dirty = append(g.dirty, c)
	}
	// Lock order: group.mu, then wmu. A batch end that takes this Conn off
	// the dirty list now waits for wmu and so sends p too.
	c.wmu.Lock()
	g.mu.Unlock()
	defer c.wmu.Unlock()
	if c.queueFramedLocked(head, p, pad, addr) {
		c.flushLocked()
	}
	return nil
}

// errTooLong is WriteFramed's error for a datagram beyond MaxDatagram.
var errTooLong = errors.New("udpbatch: framed datagram longer than MaxDatagram")

// writeNowFramed sends what is queued and the framed datagram; a plain
// datagram with nothing queued goes out without a copy.
func (c *Conn) writeNowFramed(head, p []byte, pad int, addr net.Addr) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.queued == 0 && len(head) == 0 && pad == 0 {
		_, err := c.udp.WriteTo(p, addr)
		return err
	}
	c.queueFramedLocked(head, p, pad, addr)
	c.flushLocked()
	return nil
}

// writeNow sends what is queued, then p, which may be longer than
// MaxDatagram.
func (c *Conn) writeNow(p []byte, addr net.Addr) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
	return c.udp.WriteTo(p, addr)
}

// queueFramedLocked queues head, p and pad zero bytes as one datagram for
// addr and reports whether the queue is full. Called with wmu held, room
// in the queue and at most MaxDatagram bytes in all.
func (c *Conn) queueFramedLocked(head, p []byte, pad int, addr net.Addr) bool {
	i := c.queued
	if c.wbufs[i] == nil {
		c.wbufs[i] = make([]byte, MaxDatagram)
	}
	b := c.wbufs[i]
	n := copy(b, head)
	n += copy(b[n:], p)
	clear(b[n : n+pad])
	c.wmsgs[i].Buffers[0] = b[:n+pad]
	c.wmsgs[i].Addr = addr
	c.queued++
	return c.queued == len(c.wmsgs)
}

// Flush sends the queued datagrams now.
func (c *Conn) Flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
}

// flushLocked sends wmsgs[:queued] with as few sendmmsg calls as it takes.
// A datagram the kernel refuses (the error of a single sendto) is dropped,
// as a UDP datagram lost on the way would be, and the rest still go out.
func (c *Conn) flushLocked() {
	sent := 0
	for sent < c.queued {
		n, err := c.batch.WriteBatch(c.wmsgs[sent:c.queued], 0)
		sent += max(n, 0)
		switch {
		case errors.Is(err, net.ErrClosed):
			sent = c.queued
		case err != nil || n <= 0:
			sent++ // the one refused; n <= 0 without an error cannot loop
		}
	}
	for i := range c.queued {
		c.wmsgs[i].Addr = nil
	}
	c.queued = 0
}

// Close implements net.PacketConn; queued datagrams are dropped. A reader
// blocked in ReadFrom returns net.ErrClosed. A reader that stopped in the
// middle of a batch (its caller gave up after a datagram) no longer counts
// as in a batch, so the Group's writes go out at once again.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	c.wmu.Lock()
	c.queued = 0
	c.wmu.Unlock()
	err := c.udp.Close()
	// Closing the socket ends a blocked ReadBatch, which frees rmu.
	c.rmu.Lock()
	c.endBatch()
	c.rmu.Unlock()
	return err
}

// LocalAddr implements net.PacketConn.
func (c *Conn) LocalAddr() net.Addr { return c.udp.LocalAddr() }

// SetDeadline implements net.PacketConn.
func (c *Conn) SetDeadline(t time.Time) error { return c.udp.SetDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.udp.SetReadDeadline(t) }

// SetWriteDeadline implements net.PacketConn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }
