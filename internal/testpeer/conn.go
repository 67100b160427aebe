package testpeer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// inboxSize is how many received messages a Conn holds for Receive before
// it stops reading (and so stops answering the server's pings).
const inboxSize = 64

// Conn is a signaling WebSocket that speaks envelopes and nothing more: the
// lower level of Peer, for tests that send the protocol's messages by hand.
// All methods are safe for concurrent use.
type Conn struct {
	ws    *websocket.Conn
	inbox chan *protocol.Envelope
	done  chan struct{}
	err   error // set before done is closed

	closing   chan struct{} // closed by Close: the reader drops what comes after
	closeOnce sync.Once
}

// DialConn opens a signaling WebSocket at wsURL. Like a browser, it sends
// the Origin of the page the socket belongs to, derived from wsURL unless
// origin is given.
func DialConn(ctx context.Context, wsURL, origin string) (*Conn, error) {
	if origin == "" {
		var err error
		if origin, err = originOf(wsURL); err != nil {
			return nil, err
		}
	}
	// coder/websocket closes the handshake response's body itself.
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{ //nolint:bodyclose // see above
		HTTPHeader: http.Header{"Origin": {origin}},
	})
	if err != nil {
		return nil, fmt.Errorf("dialing signaling socket: %w", err)
	}
	ws.SetReadLimit(protocol.MaxMessageBytes)
	c := &Conn{
		ws:      ws,
		inbox:   make(chan *protocol.Envelope, inboxSize),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	go c.read() //nolint:gosec // the reader lives as long as the socket, not as the dial's ctx
	return c, nil
}

// originOf returns the http(s) origin of a ws(s) URL.
func originOf(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", fmt.Errorf("parsing signaling URL: %w", err)
	}
	switch u.Scheme {
	case "ws":
		return "http://" + u.Host, nil
	case "wss":
		return "https://" + u.Host, nil
	}
	return "", errors.New("signaling URL must be ws:// or wss://")
}

// read runs for the life of the socket: it keeps the connection answering
// pings and queues every message for Receive.
func (c *Conn) read() {
	defer close(c.done)
	for {
		_, frame, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		env, err := protocol.DecodeServer(frame)
		if err != nil {
			c.err = fmt.Errorf("server sent a bad frame: %w", err)
			_ = c.ws.Close(websocket.StatusProtocolError, "bad frame")
			return
		}
		select {
		case c.inbox <- env:
		case <-c.closing:
		}
	}
}

// Send sends one message of type t with data (nil for none).
func (c *Conn) Send(ctx context.Context, t protocol.Type, data any) error {
	if data == nil {
		data = struct{}{}
	}
	frame, err := protocol.Encode(t, data)
	if err != nil {
		return err
	}
	return c.SendFrame(ctx, frame)
}

// SendFrame sends frame as one text message, unchecked: for tests of how the
// server treats malformed or oversized frames.
func (c *Conn) SendFrame(ctx context.Context, frame []byte) error {
	if err := c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	return nil
}

// Receive returns the next message from the server. Once the socket is
// closed and every message has been received, it returns a *ClosedError.
func (c *Conn) Receive(ctx context.Context) (*protocol.Envelope, error) {
	select {
	case env := <-c.inbox:
		return env, nil
	case <-c.done:
		select {
		case env := <-c.inbox:
			return env, nil
		default:
			return nil, c.closedError()
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a message: %w", ctx.Err())
	}
}

// Done is closed when the socket is closed, by either side.
func (c *Conn) Done() <-chan struct{} { return c.done }

// ClosedError describes how the socket was closed.
type ClosedError struct {
	// Code is the WebSocket close code, -1 if the socket closed without one.
	Code int
	// Reason is the close frame's reason text.
	Reason string
	// Err is the underlying read error.
	Err error
}

// Error returns the close code and reason.
func (e *ClosedError) Error() string {
	return fmt.Sprintf("signaling socket closed: code %d %q", e.Code, e.Reason)
}

// Unwrap returns the read error.
func (e *ClosedError) Unwrap() error { return e.Err }

func (c *Conn) closedError() *ClosedError {
	var ce websocket.CloseError
	if errors.As(c.err, &ce) {
		return &ClosedError{Code: int(ce.Code), Reason: ce.Reason, Err: c.err}
	}
	return &ClosedError{Code: -1, Err: c.err}
}

// Close closes the socket normally and waits for the reader to end. A socket
// the server has closed already is only released.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		select {
		case <-c.done:
			_ = c.ws.CloseNow()
		default:
			if cerr := c.ws.Close(websocket.StatusNormalClosure, ""); cerr != nil && websocket.CloseStatus(cerr) == -1 {
				err = fmt.Errorf("closing signaling socket: %w", cerr)
			}
		}
		<-c.done
	})
	return err
}
