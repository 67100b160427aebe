// Package bidi is a small WebDriver BiDi client: commands over one
// WebSocket, answered by id (https://w3c.github.io/webdriver-bidi/). It
// speaks to a browser started with a remote debugging port (Firefox:
// --remote-debugging-port, path /session) and knows just the commands the
// browser tests use; events are not subscribed to and are dropped.
package bidi

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// readLimit bounds one message from the browser; a full-page screenshot in
// base64 is the largest.
const readLimit = 64 << 20

// Client is one BiDi session's connection. Its methods are safe for
// concurrent use.
type Client struct {
	conn   *websocket.Conn
	nextID atomic.Int64
	// stopReading ends the reader.
	stopReading context.CancelFunc

	mu      sync.Mutex
	pending map[int64]chan message
	done    chan struct{}
	err     error // why the connection ended, set before done closes
}

// message is a command's answer or an event.
type message struct {
	Type    string          `json:"type"`
	ID      *int64          `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

// Error is the browser's answer to a command that failed.
type Error struct {
	// Method is the command, e.g. "script.evaluate".
	Method string
	// Code is the BiDi error code, e.g. "no such frame".
	Code string
	// Message is the browser's explanation.
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Method, e.Code, e.Message)
}

// Dial connects to a BiDi endpoint (ws://host:port/session) and starts a
// session with default capabilities.
func Dial(ctx context.Context, url string) (*Client, error) {
	return DialWith(ctx, url, map[string]any{})
}

// DialWith is Dial with a session asking for capabilities (WebDriver's
// session.new capabilities, e.g. {"alwaysMatch": {"acceptInsecureCerts": true}}).
func DialWith(ctx context.Context, url string, capabilities map[string]any) (*Client, error) {
	conn, _, err := websocket.Dial(ctx, url, nil) //nolint:bodyclose // the library closes the upgrade response's body
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	conn.SetReadLimit(readLimit)
	// The reader lives as long as the connection, not as ctx.
	readCtx, stopReading := context.WithCancel(context.WithoutCancel(ctx))
	c := &Client{conn: conn, stopReading: stopReading, pending: map[int64]chan message{}, done: make(chan struct{})}
	go c.read(readCtx)
	if err := c.Call(ctx, "session.new", map[string]any{"capabilities": capabilities}, nil); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// read hands each answer to the command waiting for it, until the
// connection ends.
func (c *Client) read(ctx context.Context) {
	var err error
	for {
		var data []byte
		_, data, err = c.conn.Read(ctx)
		if err != nil {
			break
		}
		var m message
		if err = json.Unmarshal(data, &m); err != nil {
			err = fmt.Errorf("reading a message: %w", err)
			break
		}
		if m.ID == nil {
			continue // an event
		}
		c.mu.Lock()
		ch := c.pending[*m.ID]
		delete(c.pending, *m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// Call sends method with params and decodes the result into result (which
// may be nil).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	if params == nil {
		params = map[string]any{}
	}
	id := c.nextID.Add(1)
	data, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	ch := make(chan message, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Type == "error" {
			return &Error{Method: method, Code: m.Error, Message: m.Message}
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(m.Result, result); err != nil {
			return fmt.Errorf("%s: decoding the result: %w", method, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case <-c.done:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("%s: connection closed: %w", method, err)
	}
}

// Close ends the connection (the browser keeps running).
func (c *Client) Close() error {
	defer c.stopReading()
	return c.conn.CloseNow()
}
