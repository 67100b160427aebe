package turn

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// recordingConn is a net.Conn that records each Write; block, when not
// nil, holds every Write until it is closed.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	writes  [][]byte
	wrote   chan struct{}
	block   chan struct{}
	entered chan struct{} // a Write has begun, with block set
}

func newRecordingConn() *recordingConn { return &recordingConn{wrote: make(chan struct{}, 1000)} }

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.block != nil {
		c.entered <- struct{}{}
		<-c.block
	}
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(p))
	c.mu.Unlock()
	c.wrote <- struct{}{}
	return len(p), nil
}

// awaitBytes waits until n bytes have been written and returns the writes.
func (c *recordingConn) awaitBytes(t *testing.T, n int) [][]byte {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got := 0
		for _, w := range c.writes {
			got += len(w)
		}
		writes := c.writes
		c.mu.Unlock()
		if got >= n {
			return writes
		}
		select {
		case <-c.wrote:
		case <-timeout:
			t.Fatalf("%d of %d bytes written", got, n)
		}
	}
}

func newTestWriter(conn net.Conn, group *udpbatch.Group) (*streamWriter, prometheus.Counter) {
	drops := prometheus.NewCounter(prometheus.CounterOpts{Name: "drops"})
	return &streamWriter{conn: conn, group: group, drops: drops, wake: make(chan struct{}, 1), done: make(chan struct{})}, drops
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func frameHead(number uint16, n int) []byte {
	head := binary.BigEndian.AppendUint16(nil, number)
	return binary.BigEndian.AppendUint16(head, uint16(n))
}

// TestStreamFramesOfABatchLeaveInOneWrite checks that the ChannelData
// frames relayed to a TCP or TLS client during one batch leave in one
// write (over TLS one record), padded, in order, after what pion wrote
// before them, where pion writes each frame by itself.
func TestStreamFramesOfABatchLeaveInOneWrite(t *testing.T) {
	conn := newRecordingConn()
	group := &udpbatch.Group{}
	w, drops := newTestWriter(conn, group)
	t.Cleanup(func() { close(w.done) })

	_, _ = w.Write([]byte("pion's response")) // outside a batch: at once
	conn.awaitBytes(t, len("pion's response"))

	const frames, size = 20, 1001
	group.Enter()
	var want []byte
	for i := range frames {
		p := bytes.Repeat([]byte{byte(i)}, size)
		w.writeFrame(frameHead(0x4001, size), p, -size&3)
		want = append(want, frameHead(0x4001, size)...)
		want = append(append(want, p...), make([]byte, -size&3)...)
	}
	group.Leave()
	writes := conn.awaitBytes(t, len("pion's response")+len(want))
	if len(writes) != 2 {
		t.Fatalf("%d writes, want 2: pion's response and one for the batch's %d frames", len(writes), frames)
	}
	if !bytes.Equal(writes[1], want) {
		t.Fatalf("the batch's write is %d bytes, not the %d frames in order (%d bytes)", len(writes[1]), frames, len(want))
	}
	if got := counterValue(drops); got != 0 {
		t.Fatalf("%v frames dropped, want none", got)
	}
}

// TestStreamDropsFramesASlowClientCannotTake checks that a client whose
// connection takes nothing loses the ChannelData beyond its queue, counted,
// instead of the server queueing without bound, and that pion's own
// messages are never dropped.
func TestStreamDropsFramesASlowClientCannotTake(t *testing.T) {
	conn := newRecordingConn()
	conn.block, conn.entered = make(chan struct{}), make(chan struct{}, 1000)
	w, drops := newTestWriter(conn, nil)
	t.Cleanup(func() { close(w.done) })

	const size = 1200
	p := make([]byte, size)
	w.writeFrame(frameHead(0x4001, size), p, 0) // taken by the goroutine, whose write blocks
	<-conn.entered
	frame := channelHeader + size
	sent := 3 * streamQueue / frame
	for range sent {
		w.writeFrame(frameHead(0x4001, size), p, 0)
	}
	queued := streamQueue / frame
	if got, want := counterValue(drops), float64(sent-queued); got != want {
		t.Fatalf("%v frames dropped, want %v of %d (the queue holds %d)", got, want, sent, queued)
	}
	_, _ = w.Write([]byte("pion's response")) // never dropped
	close(conn.block)
	writes := conn.awaitBytes(t, frame*(1+sent-int(counterValue(drops)))+len("pion's response"))
	if last := writes[len(writes)-1]; !bytes.HasSuffix(last, []byte("pion's response")) {
		t.Fatalf("pion's response was not written after the queued frames")
	}
}
