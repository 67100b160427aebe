package udpbatch

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// wait bounds every wait for an event; generous, for a busy machine.
const wait = 10 * time.Second

func listen(t *testing.T, network, address string) *net.UDPConn {
	t.Helper()
	addr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newConn(t *testing.T, group *Group, reads, writes int) *Conn {
	t.Helper()
	c := New(listen(t, "udp4", "127.0.0.1:0"), group, reads, writes)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// payload is datagram i of the given size, recognisable by its content.
func payload(i, size int) []byte {
	p := bytes.Repeat([]byte{byte('a' + i%26)}, size)
	copy(p, strconv.Itoa(i))
	return p[:size]
}

// pending reads one datagram from c without waiting: what the kernel has
// delivered so far (on loopback a send is delivered within the system
// call). ok is false when nothing is there.
func pending(t *testing.T, c *net.UDPConn) (p []byte, ok bool) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2*MaxDatagram)
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if errors.Is(rerr, unix.EAGAIN) {
		return nil, false
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	return buf[:n], true
}

func receive(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	buf := make([]byte, 2*MaxDatagram)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram within %v: %v", wait, err)
	}
	return buf[:n]
}

// TestReadFromHandsOutEachDatagramWithItsSender sends datagrams from two
// sockets before reading, so that they arrive in batches, full or partial,
// and checks that each ReadFrom returns one whole datagram with its sender.
func TestReadFromHandsOutEachDatagramWithItsSender(t *testing.T) {
	tests := []struct {
		name  string
		batch int
		sizes []int
	}{
		{name: "one datagram", batch: 8, sizes: []int{1200}},
		{name: "partial batch", batch: 8, sizes: []int{100, 1200, 3}},
		{name: "exactly one batch", batch: 4, sizes: []int{10, 20, 30, 40}},
		{name: "several batches and a partial one", batch: 4, sizes: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{name: "empty and largest datagrams", batch: 3, sizes: []int{0, MaxDatagram, 0, MaxDatagram, 1}},
		{name: "no batching", batch: 1, sizes: []int{5, 1200, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, &Group{}, tt.batch, tt.batch)
			senders := []*net.UDPConn{listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")}
			for i, size := range tt.sizes {
				if _, err := senders[i%2].WriteTo(payload(i, size), c.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, MaxDatagram)
			for i, size := range tt.sizes {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if want := payload(i, size); !bytes.Equal(buf[:n], want) {
					t.Errorf("datagram %d: got %d bytes %.12q, want %d bytes %.12q", i, n, buf[:n], len(want), want)
				}
				want := senders[i%2].LocalAddr().(*net.UDPAddr)
				if got, ok := from.(*net.UDPAddr); !ok || !got.IP.Equal(want.IP) || got.Port != want.Port {
					t.Errorf("datagram %d: sender %v, want %v", i, from, want)
				}
			}
		})
	}
}

// TestReadFromCutsToTheCallersBuffer: a datagram longer than the buffer
// is cut to it, as net.UDPConn does, and the next datagram is whole.
func TestReadFromCutsToTheCallersBuffer(t *testing.T) {
	c := newConn(t, &Group{}, 8, 8)
	sender := listen(t, "udp4", "127.0.0.1:0")
	for i, size := range []int{100, 5} {
		if _, err := sender.WriteTo(payload(i, size), c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 10)
	for i, want := range [][]byte{payload(0, 100)[:10], payload(1, 5)} {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("datagram %d: got %q, want %q", i, buf[:n], want)
		}
	}
}

// TestWritesDuringABatchLeaveTogetherAtItsEnd: what is written while a
// reader of the group works off a batch waits until the reader has handed
// out the batch and asks for more, then arrives in order.
func TestWritesDuringABatchLeaveTogetherAtItsEnd(t *testing.T) {
	group := &Group{}
	reader, writer := newConn(t, group, 8, 8), newConn(t, group, 8, 8)
	client, peer := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
	const batch = 3
	for i := range batch {
		if _, err := client.WriteTo(payload(i, 100), reader.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, MaxDatagram)
	_ = reader.SetReadDeadline(time.Now().Add(wait))
	for i := range batch {
		if _, _, err := reader.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		// Relay what was read, as a TURN server does.
		if n, err := writer.WriteTo(payload(i, 1200), peer.LocalAddr()); err != nil || n != 1200 {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if p, ok := pending(t, peer); ok {
		t.Fatalf("datagram %.8q left before the batch was handed out", p)
	}
	// Asking for the next datagram ends the batch.
	readErr := make(chan error, 1)
	go func() {
		_, _, err := reader.ReadFrom(buf)
		readErr <- err
	}()
	for i := range batch {
		if got, want := receive(t, peer), payload(i, 1200); !bytes.Equal(got, want) {
			t.Errorf("datagram %d: got %.8q, want %.8q", i, got, want)
		}
	}
	// Close while reading: the blocked ReadFrom returns.
	_ = reader.Close()
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("ReadFrom still blocked after Close")
	}
}

// TestWritesOutsideABatchLeaveAtOnce: with no reader in a batch (a timer,
// a TCP connection's goroutine) a write is sent within WriteTo.
func TestWritesOutsideABatchLeaveAtOnce(t *testing.T) {
	group := &Group{}
	newConn(t, group, 8, 8) // a reader that reads nothing
	writer := newConn(t, group, 8, 8)
	peer := listen(t, "udp4", "127.0.0.1:0")
	if _, err := writer.WriteTo(payload(0, 1200), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, ok := pending(t, peer); !ok || !bytes.Equal(got, payload(0, 1200)) {
		t.Errorf("after WriteTo the peer has %.8q (%v), want the datagram", got, ok)
	}
}

// TestAFullQueueLeavesAtOnce: a batch's writes beyond the queue's size do
// not wait for the batch's end.
func TestAFullQueueLeavesAtOnce(t *testing.T) {
	group := &Group{}
	reader, writer := newConn(t, group, 8, 8), newConn(t, group, 8, 4)
	client, peer := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
	if _, err := client.WriteTo([]byte("go"), reader.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = reader.SetReadDeadline(time.Now().Add(wait))
	if _, _, err := reader.ReadFrom(make([]byte, MaxDatagram)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := writer.WriteTo(payload(i, 1200), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if got, ok := pending(t, peer); !ok || !bytes.Equal(got, payload(i, 1200)) {
			t.Errorf("datagram %d of the full queue: %.8q (%v)", i, got, ok)
		}
	}
	if p, ok := pending(t, peer); ok {
		t.Errorf("datagram %.8q beyond the full queue left before the batch's end", p)
	}
}

// TestReadDeadline: an expired read deadline ends a blocked ReadFrom, as
// the TURN server's credential expiry relies on.
func TestReadDeadline(t *testing.T) {
	c := newConn(t, &Group{}, 8, 8)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := c.ReadFrom(make([]byte, MaxDatagram)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadFrom past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestDualStackSocket: a socket on the unspecified address, as the TURN
// server's default ":3478", reads from and writes in batches to IPv4
// peers.
func TestDualStackSocket(t *testing.T) {
	group := &Group{}
	c := New(listen(t, "udp", ":0"), group, 8, 8)
	t.Cleanup(func() { _ = c.Close() })
	port := c.LocalAddr().(*net.UDPAddr).Port
	peer := listen(t, "udp4", "127.0.0.1:0")
	for i := range 2 {
		if _, err := peer.WriteTo(payload(i, 100), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, MaxDatagram)
	var from net.Addr
	for range 2 {
		var err error
		if _, from, err = c.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		// Answer within the batch: queued, sent with sendmmsg.
		if _, err := c.WriteTo(payload(9, 50), from); err != nil {
			t.Fatal(err)
		}
	}
	if got := from.(*net.UDPAddr); !got.IP.Equal(net.IPv4(127, 0, 0, 1)) || got.Port != peer.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("sender %v, want %v", from, peer.LocalAddr())
	}
	go func() { _, _, _ = c.ReadFrom(buf) }() // ends the batch; returns at Cleanup's Close
	for range 2 {
		if got := receive(t, peer); !bytes.Equal(got, payload(9, 50)) {
			t.Errorf("answer %.8q, want %.8q", got, payload(9, 50))
		}
	}
}

// TestConcurrentRelaying: two Conns relay to each other's peers from their
// read loops while other goroutines write too, as a TURN server's listener,
// relay sockets and TCP connections do; every datagram arrives (loopback,
// large buffers: nothing is lost on the way).
func TestConcurrentRelaying(t *testing.T) {
	group := &Group{}
	a, b := newConn(t, group, 4, 4), newConn(t, group, 4, 4)
	_ = a.udp.SetReadBuffer(4 << 20)
	_ = b.udp.SetReadBuffer(4 << 20)
	sink := listen(t, "udp4", "127.0.0.1:0")
	_ = sink.SetReadBuffer(8 << 20)
	const perSource = 300
	relay := func(from, to *Conn) {
		buf := make([]byte, MaxDatagram)
		for {
			n, _, err := from.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := to.WriteTo(buf[:n], sink.LocalAddr()); err != nil {
				return
			}
		}
	}
	go relay(a, b)
	go relay(b, a)
	sources := []struct {
		via  net.Addr
		from *net.UDPConn
	}{
		{a.LocalAddr(), listen(t, "udp4", "127.0.0.1:0")},
		{b.LocalAddr(), listen(t, "udp4", "127.0.0.1:0")},
	}
	for _, s := range sources {
		go func() {
			for i := range perSource {
				_, _ = s.from.WriteTo(payload(i, 200), s.via)
			}
		}()
	}
	go func() { // a writer outside the read loops
		for i := range perSource {
			_, _ = a.WriteTo(payload(i, 300), sink.LocalAddr())
		}
	}()
	counts := map[int]int{}
	for range 3 * perSource {
		counts[len(receive(t, sink))]++
	}
	if counts[200] != 2*perSource || counts[300] != perSource {
		t.Errorf("sink got %v datagrams by size, want %d of 200 B and %d of 300 B", counts, 2*perSource, perSource)
	}
}

// TestClosingAReaderMidBatchEndsItsBatch: a reader whose caller stops
// after one datagram of a batch (the TURN server's relay socket when the
// credential expires) and closes the Conn no longer holds the Group's
// writes back.
func TestClosingAReaderMidBatchEndsItsBatch(t *testing.T) {
	group := &Group{}
	reader, writer := newConn(t, group, 8, 8), newConn(t, group, 8, 8)
	client, peer := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
	for i := range 3 {
		if _, err := client.WriteTo(payload(i, 10), reader.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	_ = reader.SetReadDeadline(time.Now().Add(wait))
	if _, _, err := reader.ReadFrom(make([]byte, MaxDatagram)); err != nil {
		t.Fatal(err)
	}
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.WriteTo(payload(7, 100), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, ok := pending(t, peer); !ok || !bytes.Equal(got, payload(7, 100)) {
		t.Errorf("after the reader's Close a write waits: peer has %.8q (%v)", got, ok)
	}
}

// TestInterceptTakesDatagramsBeforeReadFrom: datagrams the Intercept
// takes are not handed out by ReadFrom; what it writes with WriteFramed
// during the batch leaves, head, payload and padding in one datagram,
// when the batch ends.
func TestInterceptTakesDatagramsBeforeReadFrom(t *testing.T) {
	group := &Group{}
	c, out := newConn(t, group, 8, 8), newConn(t, group, 8, 8)
	sender, peer := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
	var taken []string
	c.SetIntercept(func(_ *Conn, p []byte, from net.Addr) bool {
		if !bytes.HasPrefix(p, []byte("take")) {
			return false
		}
		if got := from.(*net.UDPAddr); got.Port != sender.LocalAddr().(*net.UDPAddr).Port {
			t.Errorf("intercepted datagram from %v, want %v", from, sender.LocalAddr())
		}
		taken = append(taken, string(p))
		if err := out.WriteFramed([]byte("HEAD"), p, 2, peer.LocalAddr()); err != nil {
			t.Error(err)
		}
		return true
	})
	for _, s := range []string{"take 1", "keep 2", "take 3", "keep 4"} {
		if _, err := sender.WriteTo([]byte(s), c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, MaxDatagram)
	for _, want := range []string{"keep 2", "keep 4"} {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != want {
			t.Fatalf("ReadFrom = %q, want %q", buf[:n], want)
		}
	}
	if len(taken) < 1 || taken[0] != "take 1" {
		t.Fatalf("intercepted %q, want take 1 first", taken)
	}
	go func() { _, _, _ = c.ReadFrom(buf) }() // ends the batch; returns at Cleanup's Close
	for _, want := range []string{"HEADtake 1\x00\x00", "HEADtake 3\x00\x00"} {
		if got := receive(t, peer); string(got) != want {
			t.Errorf("peer got %q, want %q", got, want)
		}
	}
}

// TestReadingAllocatesNothing: reading a steady sender's datagrams costs
// no memory allocation (golang.org/x/net's ReadBatch makes two per
// datagram for the sender's address).
func TestReadingAllocatesNothing(t *testing.T) {
	c := newConn(t, &Group{}, 8, 8)
	sender := listen(t, "udp4", "127.0.0.1:0")
	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	p, buf := payload(1, 1200), make([]byte, MaxDatagram)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	var failed error
	allocs := testing.AllocsPerRun(200, func() {
		for range 4 {
			if _, err := sender.WriteToUDPAddrPort(p, to); err != nil {
				failed = err
			}
		}
		for range 4 {
			if _, _, err := c.ReadFrom(buf); err != nil {
				failed = err
			}
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs > 0 {
		t.Fatalf("%.1f allocations per 4 datagrams read, want none", allocs)
	}
}
