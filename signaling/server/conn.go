package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// wsConn is one browser's WebSocket: the handler goroutine reads, one writer
// goroutine writes everything queued by Send and Close, one pinger keeps
// track of liveness. It implements room.Conn.
type wsConn struct {
	s   *Server
	ws  *websocket.Conn
	id  uint64
	out chan outFrame

	ctx    context.Context // ends when the connection ends
	cancel context.CancelFunc

	lastSeen atomic.Int64 // unix nanoseconds of the last frame or pong

	closeOnce sync.Once
	closeCode atomic.Int32

	// dropped is set when the connection made way for a newer one; it no
	// longer counts against the caps. member is its place in the room once
	// the room knows it. Both are guarded by the server's mutex.
	dropped bool
	member  *room.Member
	// source is where the connection comes from, for penalties only; set
	// before run, never logged.
	source string
}

// outFrame is a frame to write, or a close when code is set.
type outFrame struct {
	frame  []byte
	code   int
	reason string
}

func newWSConn(s *Server, ws *websocket.Conn, id uint64) *wsConn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{s: s, ws: ws, id: id, out: make(chan outFrame, s.opts.SendQueue), ctx: ctx, cancel: cancel}
	c.seen()
	return c
}

// Send queues frame for the writer. A browser too slow to keep up is
// disconnected rather than waited for.
func (c *wsConn) Send(frame []byte) { c.enqueue(outFrame{frame: frame}) }

// Close queues closing the WebSocket with code after the queued frames.
func (c *wsConn) Close(code int, reason string) { c.enqueue(outFrame{code: code, reason: reason}) }

func (c *wsConn) enqueue(f outFrame) {
	select {
	case <-c.ctx.Done():
	case c.out <- f:
	default:
		// Only cancel here: the room may be delivering under its send lock,
		// and closing the socket can wait for a close handshake. The reader
		// sees the cancellation and ends the connection.
		c.s.log.Info("connection dropped", "conn", c.id, "reason", "send queue full")
		c.cancel()
	}
}

// Probe pings the browser and waits for its pong.
func (c *wsConn) Probe(ctx context.Context) error {
	if err := c.ws.Ping(ctx); err != nil {
		return err
	}
	c.seen()
	return nil
}

// abort ends the connection at once, without a close handshake.
func (c *wsConn) abort() {
	c.cancel()
	_ = c.ws.CloseNow()
}

func (c *wsConn) seen() { c.lastSeen.Store(time.Now().UnixNano()) }

// run serves the connection until it ends.
func (c *wsConn) run() {
	defer c.abort()
	c.ws.SetReadLimit(HardReadLimit)
	member := c.s.opts.Room.Connect(c)
	c.s.entered(c, member)
	var writerDone = make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writer()
	}()
	go c.pinger()
	helloTimer := time.AfterFunc(c.s.opts.HelloTimeout, func() {
		if err := member.HelloMissing(); err != nil {
			c.s.answered(c, err)
		}
	})
	defer helloTimer.Stop()
	c.s.log.Info("connection opened", "conn", c.id)

	limiter := newBucket(c.s.opts.Rate, c.s.opts.Burst, c.s.opts.Now)
	limited := false
	for {
		frame, err := c.read()
		var perr *protocol.Error
		if err != nil && !errors.As(err, &perr) {
			break
		}
		if !limiter.allow() {
			// One rate-limited answer per run of refused messages, so a flood
			// does not turn into a flood of errors.
			if !limited {
				c.s.answered(c, member.Refuse(protocol.NewError(protocol.CodeRateLimited, "too many messages")))
			}
			limited = true
			continue
		}
		limited = false
		if perr != nil {
			c.s.answered(c, member.Refuse(perr))
			continue
		}
		env, err := protocol.Decode(frame)
		if err != nil {
			var perr *protocol.Error
			errors.As(err, &perr)
			c.s.answered(c, member.Refuse(perr))
			continue
		}
		if env.Type == protocol.TypeHello && !c.holdHello(helloTimer) {
			break
		}
		err = member.Receive(env)
		c.s.failed(c, err)
		c.s.answered(c, err)
		if _, ok := member.Role(); ok && err == nil && env.Type == protocol.TypeHello {
			c.s.welcomed(c)
		}
		if err == nil && env.Type == protocol.TypeJoin && c.s.opts.Metrics != nil {
			if role, ok := member.Role(); ok {
				c.s.opts.Metrics.Joined(role)
			}
		}
	}
	member.Disconnect()
	c.cancel()
	<-writerDone
	role, _ := member.Role()
	c.s.log.Info("connection closed", "conn", c.id, "role", string(role), "closeCode", c.closeCode.Load())
}

// holdHello makes a hello from a source that keeps failing wait for its
// penalty (see Server). The hello deadline is met: it is stopped first, so
// the wait cannot turn into hello-required. It reports false when the
// connection ended meanwhile.
func (c *wsConn) holdHello(helloTimer *time.Timer) bool {
	if c.s.penalty == nil {
		return true
	}
	d := c.s.penalty.delay(c.source)
	if d <= 0 {
		return true
	}
	helloTimer.Stop()
	if c.s.opts.Metrics != nil {
		c.s.opts.Metrics.HellosDelayed.Inc()
	}
	return c.s.pause(c.ctx, d)
}

// read returns the next text frame. Frames over protocol.MaxMessageBytes are
// read to the end and refused with too-large; binary frames are bad-message.
// Other errors end the connection.
func (c *wsConn) read() ([]byte, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return nil, err
	}
	c.seen()
	frame, err := io.ReadAll(io.LimitReader(r, protocol.MaxMessageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(frame) > protocol.MaxMessageBytes {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, err
		}
		return nil, protocol.NewError(protocol.CodeTooLarge, "frame over 64 KiB")
	}
	if typ != websocket.MessageText {
		return nil, protocol.NewError(protocol.CodeBadMessage, "frames must be text")
	}
	return frame, nil
}

// writer writes queued frames until a close is queued or the connection ends.
func (c *wsConn) writer() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case f := <-c.out:
			if f.code != 0 {
				c.closeOnce.Do(func() {
					c.closeCode.Store(int32(f.code))
					// Close does the handshake; the reader sees the end.
					_ = c.ws.Close(websocket.StatusCode(f.code), f.reason)
				})
				c.cancel()
				return
			}
			ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
			err := c.ws.Write(ctx, websocket.MessageText, f.frame)
			cancel()
			if err != nil {
				c.abort()
				return
			}
		}
	}
}

// pinger pings every PingInterval and ends the connection when nothing was
// heard from the browser for DeadAfter.
func (c *wsConn) pinger() {
	ticker := time.NewTicker(c.s.opts.PingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-ticker.C:
		}
		deadline := time.Unix(0, c.lastSeen.Load()).Add(c.s.opts.DeadAfter)
		ctx, cancel := context.WithDeadline(c.ctx, deadline)
		err := c.Probe(ctx)
		cancel()
		if err != nil && c.ctx.Err() == nil {
			c.s.log.Info("connection dropped", "conn", c.id, "reason", "no pong")
			c.abort()
			return
		}
	}
}

var _ room.Conn = (*wsConn)(nil)
