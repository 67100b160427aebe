package frontdoor_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/flood"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// startDoorWith is startDoor with limits.
func startDoorWith(t testing.TB, limits frontdoor.Limits) *door {
	t.Helper()
	return startDoor(t, func(o *frontdoor.Options) { o.Limits = limits })
}

// dialFrom opens a WebSocket to room id from the loopback address src,
// with X-Forwarded-For xff if not empty. It returns the connection (nil
// when refused) and the handshake's status.
func (d *door) dialFrom(src, id, xff string) (*websocket.Conn, int) {
	d.t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	h := http.Header{}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, d.url+"/r/"+id+"/ws", &websocket.DialOptions{
		HTTPHeader: h,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if resp == nil {
		d.t.Fatalf("dial from %s: %v", src, err)
	}
	if err != nil {
		return nil, resp.StatusCode
	}
	d.t.Cleanup(func() { _ = c.CloseNow() })
	return c, resp.StatusCode
}

// getFrom fetches path from the loopback address src.
func (d *door) getFrom(src, path string) int {
	d.t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	resp, err := c.Get(d.url + path)
	if err != nil {
		d.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestLimitsRefuseOneSourceAndOneRoomAndLeaveTheOthersAlone(t *testing.T) {
	d := startDoorWith(t, frontdoor.Limits{RequestsPerSource: 4, WebSocketsPerSource: 2, RequestsPerRoom: 4})
	room1, _, _ := d.openRoom("anna")
	room2, _, _ := d.openRoom("ben")
	const a, b, c = "127.0.0.1", "127.0.0.2", "127.0.0.3"

	steps := []struct {
		name       string
		src, room  string
		wantStatus int
	}{
		{"a's first", a, room1, http.StatusSwitchingProtocols},
		{"a's second", a, room1, http.StatusSwitchingProtocols},
		{"a over its websockets", a, room1, http.StatusTooManyRequests},
		{"a over its websockets in another room too", a, room2, http.StatusTooManyRequests},
		{"b in the same room", b, room1, http.StatusSwitchingProtocols},
		{"b again, filling the room", b, room1, http.StatusSwitchingProtocols},
		{"c in the full room", c, room1, http.StatusServiceUnavailable},
		{"c in another room", c, room2, http.StatusSwitchingProtocols},
	}
	var first *websocket.Conn
	for _, s := range steps {
		conn, status := d.dialFrom(s.src, s.room, "")
		if status != s.wantStatus {
			t.Fatalf("%s: status %d, want %d", s.name, status, s.wantStatus)
		}
		if first == nil {
			first = conn
		}
	}
	// a's page loads still work: requests count apart from WebSockets.
	if got := d.getFrom(a, "/r/"+room2+"/"); got != http.StatusOK {
		t.Fatalf("a's page in room 2: %d", got)
	}
	for reason, want := range map[string]float64{frontdoor.ReasonSourceWebSockets: 2, frontdoor.ReasonRoom: 1, frontdoor.ReasonSource: 0} {
		if got := metric(t, d.registry, "sprechzimmer_frontdoor_limited_total", map[string]string{"reason": reason}); got != want {
			t.Errorf("limited_total{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	// When a's first WebSocket ends, a may open one again.
	_ = first.Close(websocket.StatusNormalClosure, "")
	testenv.Eventually(t, "a's slot freed", func() error {
		if conn, status := d.dialFrom(a, room2, ""); conn == nil {
			return errorf("status %d", status)
		}
		return nil
	})
	if logs := d.logs.String(); strings.Contains(logs, b) || strings.Contains(logs, c) {
		t.Errorf("the log names a source address:\n%s", logs)
	}
}

func TestLimitsTrustForwardedForOnlyFromTrustedProxies(t *testing.T) {
	d := startDoorWith(t, frontdoor.Limits{WebSocketsPerSource: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	room, _, _ := d.openRoom("anna")
	steps := []struct {
		name       string
		peer, xff  string
		wantStatus int
	}{
		{"first visitor through the proxy", "127.0.0.1", "198.51.100.1", http.StatusSwitchingProtocols},
		{"second visitor through the proxy", "127.0.0.1", "198.51.100.2", http.StatusSwitchingProtocols},
		{"first visitor again", "127.0.0.1", "198.51.100.1", http.StatusTooManyRequests},
		{"first visitor posing as another: the proxy's hop counts", "127.0.0.1", "192.0.2.9, 198.51.100.1", http.StatusTooManyRequests},
		{"untrusted peer: its header is ignored", "127.0.0.2", "192.0.2.10", http.StatusSwitchingProtocols},
		{"untrusted peer again with another header", "127.0.0.2", "192.0.2.11", http.StatusTooManyRequests},
	}
	for _, s := range steps {
		if _, status := d.dialFrom(s.peer, room, s.xff); status != s.wantStatus {
			t.Fatalf("%s: status %d, want %d", s.name, status, s.wantStatus)
		}
	}
	if logs := d.logs.String(); strings.Contains(logs, "198.51.100.") {
		t.Errorf("the log names a source address:\n%s", logs)
	}
}

// TestRoomServerEndingAWebSocketFreesItsPlace: when the room server drops
// a WebSocket (a socket that never said hello, say), the front door ends
// the browser's side too, even if that side never closes on its own, so
// the socket holds no buffers and no place under the limits.
func TestRoomServerEndingAWebSocketFreesItsPlace(t *testing.T) {
	d := startDoorWith(t, frontdoor.Limits{RequestsPerRoom: 1})
	id, svc := d.createRoom("anna", roomSpec{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			_ = c.CloseNow() // dropped at once, without a close frame
		}
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.serveRoom(svc, &backend{addr: srv.Listener.Addr().String()})
	d.awaitRouted(id)

	// An idle socket: upgraded, then it neither reads nor closes.
	idle, err := flood.Open(context.Background(), strings.TrimPrefix(d.url, "http://"), "/r/"+id+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idle.Close() })
	testenv.Eventually(t, "the dropped WebSocket's place freed", func() error {
		if got := metric(t, d.registry, "sprechzimmer_frontdoor_websockets_active", nil); got != 0 {
			return errorf("websockets_active = %v", got)
		}
		if got := d.getFrom("127.0.0.2", "/r/"+id+"/"); got != http.StatusOK {
			return errorf("the room's page: %d", got)
		}
		return nil
	})
}
