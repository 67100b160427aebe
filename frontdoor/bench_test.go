package frontdoor_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/coder/websocket"
)

// BenchmarkRoomPage measures a page request through the front door (lookup
// in the cache, header filtering, proxying over a kept-alive connection)
// against the same request straight to the room server.
func BenchmarkRoomPage(b *testing.B) {
	d := startDoor(b)
	id, _, room := d.openRoom("anna")
	for _, bm := range []struct{ name, url string }{
		{"direct", "http://" + room.addr + "/"},
		{"through-front-door", d.url + "/r/" + id + "/"},
		{"not-found", d.url + "/r/" + uuidLike() + "/"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			for b.Loop() {
				resp, err := c.Get(bm.url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
}

// BenchmarkWebSocketEcho measures one message's round trip over an open
// WebSocket through the front door (a byte copy after the upgrade) against
// the room server directly.
func BenchmarkWebSocketEcho(b *testing.B) {
	d := startDoor(b)
	id, _, room := d.openRoom("anna")
	msg := []byte(`{"type":"candidate","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host"}`)
	for _, bm := range []struct{ name, url string }{
		{"direct", "ws://" + room.addr + "/ws"},
		{"through-front-door", d.url + "/r/" + id + "/ws"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			ctx := context.Background()
			c, _, err := websocket.Dial(ctx, bm.url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://video.example.test"}}})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = c.CloseNow() }()
			for b.Loop() {
				if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
