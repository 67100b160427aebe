package frontdoor_test

import (
	"context"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// clientIP is an address the browser's side claims; it must not reach a
// room server or a log line.
const clientIP = "203.0.113.7"

// browserHeaders are what a browser and an ingress add to a request.
func browserHeaders() http.Header {
	return http.Header{
		"X-Forwarded-For":  {clientIP},
		"X-Real-Ip":        {clientIP},
		"Forwarded":        {"for=" + clientIP},
		"Cookie":           {"portal-session=secret-cookie"},
		"Authorization":    {"Bearer secret-credential"},
		"Referer":          {"https://portal.example.test/appointments/42"},
		"User-Agent":       {"Mozilla/5.0 (test)"},
		"Accept-Language":  {"de-DE"},
		"X-Original-Uri":   {"/r/whatever/?x=1"},
		"X-Request-Id":     {"b2f0c0de"},
		"X-Something-Else": {"nope"},
		// A browser cannot name its own source.
		protocol.SourceHeader: {"forged-" + clientIP},
	}
}

// allowedUpstream are the only request headers a room server may see.
var allowedUpstream = []string{
	"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "If-Modified-Since", "If-None-Match",
	"Origin", "Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
	protocol.SourceHeader, // a pseudonym, checked below
}

// checkUpstream asserts that a room server got only the path, its own Host
// and the allowed headers.
func checkUpstream(t *testing.T, r *http.Request, wantURI, wantHost string) {
	t.Helper()
	if r.RequestURI != wantURI {
		t.Errorf("room server got request URI %q, want %q", r.RequestURI, wantURI)
	}
	if r.Host != wantHost {
		t.Errorf("room server got Host %q, want %q", r.Host, wantHost)
	}
	if src := r.Header.Values(protocol.SourceHeader); len(src) != 1 || len(src[0]) != 22 || strings.Contains(src[0], "forged") {
		t.Errorf("room server got source %q, want one pseudonym of the front door's", src)
	}
	for k, vs := range r.Header {
		if !slices.Contains(allowedUpstream, k) {
			t.Errorf("room server got header %s: %q", k, vs)
		}
		for _, v := range vs {
			if strings.Contains(v, clientIP) || strings.Contains(v, "secret") {
				t.Errorf("room server got %s: %q", k, v)
			}
		}
	}
}

func TestProxiesPageAndWebSocketWithPrefixStripped(t *testing.T) {
	d := startDoor(t)
	id, svc, b := d.openRoom("anna")
	// The operator's Service port (roomcontract.Port).
	upstreamHost := frontdoor.ServiceHost(svc.Name, svc.Namespace, frontdoor.DefaultClusterDomain) + ":8080"

	tests := []struct {
		name, path, wantURI string
	}{
		{"page", "/r/" + id + "/", "/"},
		{"asset", "/r/" + id + "/app.js", "/app.js"},
		{"nested asset", "/r/" + id + "/img/logo.svg", "/img/logo.svg"},
		{"query is not forwarded", "/r/" + id + "/?t=leaked-token&x=1", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(b.requests())
			r := d.get(tt.path, browserHeaders())
			if r.status != http.StatusOK || r.body != tt.wantURI {
				t.Fatalf("GET %s: %d %q, want 200 %q", tt.path, r.status, r.body, tt.wantURI)
			}
			seen := b.requests()
			if len(seen) != before+1 {
				t.Fatalf("room server saw %d requests, want 1", len(seen)-before)
			}
			checkUpstream(t, seen[len(seen)-1], tt.wantURI, upstreamHost)
		})
	}

	t.Run("websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h := browserHeaders()
		h.Set("Origin", "https://video.example.test")
		c, resp, err := websocket.Dial(ctx, d.url+"/r/"+id+"/ws", &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer func() { _ = c.CloseNow() }()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake status %d", resp.StatusCode)
		}
		for _, msg := range []string{`{"type":"hello","v":1}`, "second message"} {
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != msg {
				t.Fatalf("echo %q, want %q", got, msg)
			}
		}
		seen := b.requests()
		ws := seen[len(seen)-1]
		checkUpstream(t, ws, "/ws", upstreamHost)
		if ws.Header.Get("Origin") != "https://video.example.test" {
			t.Errorf("room server got Origin %q; it checks it", ws.Header.Get("Origin"))
		}
		if got := metric(t, d.registry, "sprechzimmer_frontdoor_websockets_active", nil); got != 1 {
			t.Errorf("websockets_active = %v while open, want 1", got)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "websocket counted as closed", func() error {
			if got := metric(t, d.registry, "sprechzimmer_frontdoor_websockets_active", nil); got != 0 {
				return errorf("websockets_active = %v", got)
			}
			return nil
		})
		if got := metric(t, d.registry, "sprechzimmer_frontdoor_requests_total", map[string]string{"route": frontdoor.RouteWebSocket, "code": "1xx"}); got != 1 {
			t.Errorf("requests_total{route=websocket,code=1xx} = %v, want 1", got)
		}
	})

	if got := metric(t, d.registry, "sprechzimmer_frontdoor_requests_total", map[string]string{"route": frontdoor.RouteRoom, "code": "2xx"}); got < float64(len(tests)) {
		t.Errorf("requests_total{route=room,code=2xx} = %v, want at least %d", got, len(tests))
	}
	logs := d.logs.String()
	for _, secret := range []string{id, clientIP, "127.0.0.1", "leaked-token", svc.Name, svc.Namespace} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log names %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"route":"room"`) {
		t.Errorf("the access log has no route: %s", logs)
	}
}

func TestClosedRoomsGetOneAndTheSame404(t *testing.T) {
	d := startDoor(t)
	b := startBackend(t)
	expiring, expiringSvc := d.createRoom("soon", roomSpec{expiresIn: time.Minute})
	noExpiry, noExpirySvc := d.createRoom("unannotated", roomSpec{noExpiry: true})
	forged, forgedSvc := d.createRoom("forged", roomSpec{ownerUID: "00000000-0000-4000-8000-000000000000"})
	open, openSvc := d.createRoom("open", roomSpec{})
	d.serveRoom(expiringSvc, b)
	d.serveRoom(noExpirySvc, b)
	d.serveRoom(forgedSvc, b)
	d.serveRoom(openSvc, b)
	// One watch delivers the Services in order: once the last one routes,
	// the cache holds the others too.
	d.awaitRouted(open)
	d.awaitRouted(expiring)
	d.clock.Step(2 * time.Minute)

	reference := d.get("/r/"+uuidLike()+"/", nil)
	if reference.status != http.StatusNotFound {
		t.Fatalf("unknown room: status %d, want 404", reference.status)
	}
	// A client who opens an old link reads what happened, in a page.
	if ct := reference.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("the 404 is %q, want an HTML page", ct)
	}
	for _, words := range []string{"nicht mehr gültig", "no longer valid"} {
		if !strings.Contains(reference.body, words) {
			t.Errorf("the 404 page does not say %q:\n%s", words, reference.body)
		}
	}
	tests := []struct{ name, path string }{
		{"unknown room, asset", "/r/" + uuidLike() + "/app.js"},
		{"unknown room, websocket path", "/r/" + uuidLike() + "/ws"},
		{"expired room", "/r/" + expiring + "/"},
		{"expired room, websocket path", "/r/" + expiring + "/ws"},
		{"room without expiry", "/r/" + noExpiry + "/"},
		{"service not controlled by the room's session", "/r/" + forged + "/"},
		{"malformed id", "/r/not-a-room/"},
		{"upper-case id", "/r/" + strings.ToUpper(open) + "/"},
		{"id with a suffix", "/r/" + open + "x/"},
		{"empty id", "/r//"},
		{"dot segment", "/r/" + open + "/./app.js"},
		{"dot-dot segment", "/r/" + open + "/../" + open + "/"},
		{"empty segment", "/r/" + open + "//app.js"},
		{"room server's metrics", "/r/" + open + "/metrics"},
		{"room server's probe", "/r/" + open + "/readyz"},
		{"site root", "/"},
		{"prefix only", "/r/"},
		{"elsewhere", "/admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.get(tt.path, nil)
			if got.status != reference.status || got.body != reference.body {
				t.Errorf("GET %s: %d %q, want %d %q", tt.path, got.status, got.body, reference.status, reference.body)
			}
			if !maps.EqualFunc(withoutDate(got.header), withoutDate(reference.header), slices.Equal) {
				t.Errorf("GET %s: headers %v, want %v", tt.path, got.header, reference.header)
			}
		})
	}
	if r := d.get("/r/"+open+"/", nil); r.status != http.StatusOK {
		t.Errorf("the open room answers %d, want 200", r.status)
	}
	for _, h := range []string{"Cache-Control", "Content-Security-Policy", "Referrer-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if reference.header.Get(h) == "" {
			t.Errorf("the 404 lacks %s", h)
		}
	}
}

func TestBareRoomURLRedirectsToTheRoomPage(t *testing.T) {
	d := startDoor(t)
	id, _, _ := d.openRoom("anna")
	unknown := uuidLike()
	tests := []struct{ name, path, want string }{
		{"open room", "/r/" + id, "/r/" + id + "/"},
		{"query dropped", "/r/" + id + "?t=leaked", "/r/" + id + "/"},
		{"unknown room redirects alike", "/r/" + unknown, "/r/" + unknown + "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := d.get(tt.path, nil)
			if r.status != http.StatusPermanentRedirect || r.header.Get("Location") != tt.want {
				t.Errorf("GET %s: %d Location %q, want 308 %q", tt.path, r.status, r.header.Get("Location"), tt.want)
			}
		})
	}
}

func TestDeletedRoomStopsRouting(t *testing.T) {
	d := startDoor(t)
	id, svc, _ := d.openRoom("anna")
	reference := d.get("/r/"+uuidLike()+"/", nil)

	if err := k8sClient.Delete(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "deleted room no longer routed", func() error {
		got := d.get("/r/"+id+"/", nil)
		if got.status != reference.status || got.body != reference.body {
			return errorf("status %d %q", got.status, got.body)
		}
		return nil
	})
}

func TestUnreachableRoomServer(t *testing.T) {
	d := startDoor(t)
	id, _ := d.createRoom("nobody-home", roomSpec{})
	// No resolver entry: the dial fails as it would without a Pod.
	testenv.Eventually(t, "room looked up", func() error {
		if r := d.get("/r/"+id+"/", nil); r.status != http.StatusBadGateway {
			return errorf("status %d", r.status)
		}
		return nil
	})
	if got := metric(t, d.registry, "sprechzimmer_frontdoor_upstream_errors_total", map[string]string{"reason": "dial"}); got < 1 {
		t.Errorf("upstream_errors_total{reason=dial} = %v, want at least 1", got)
	}
	if logs := d.logs.String(); strings.Contains(logs, id) || strings.Contains(logs, d.ns) {
		t.Errorf("the log names the room: %s", logs)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	d := startDoor(t)
	id, _, _ := d.openRoom("anna")
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		for _, path := range []string{"/r/" + id + "/", "/r/" + uuidLike() + "/"} {
			r := fetch(t, method, d.url+path, nil)
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, path, r.status)
			}
		}
	}
	if r := fetch(t, http.MethodHead, d.url+"/r/"+id+"/", nil); r.status != http.StatusOK {
		t.Errorf("HEAD: %d, want 200", r.status)
	}
}

// hostileHeaders are what a captured room server might answer with to act
// on the whole shared origin.
var hostileHeaders = map[string]string{
	"Set-Cookie":                       "portal-session=stolen; Path=/; Secure",
	"Service-Worker-Allowed":           "/",
	"Clear-Site-Data":                  `"storage", "cookies"`,
	"Alt-Svc":                          `h3="evil.example:443"; ma=86400`,
	"Strict-Transport-Security":        "max-age=0",
	"Nel":                              `{"report_to":"x","max_age":86400}`,
	"Report-To":                        `{"group":"x","max_age":86400,"endpoints":[{"url":"https://evil.example/r"}]}`,
	"Reporting-Endpoints":              `x="https://evil.example/r"`,
	"Accept-Ch":                        "Sec-CH-UA-Model",
	"Origin-Agent-Cluster":             "?0",
	"Access-Control-Allow-Origin":      "*",
	"Access-Control-Allow-Credentials": "true",
}

// roomOwnHeaders are security headers a room server sets itself; the
// front door keeps them as they are.
var roomOwnHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'",
	"X-Frame-Options":         "SAMEORIGIN",
}

// setHostileHeaders sets hostileHeaders and roomOwnHeaders on a room
// server's response.
func setHostileHeaders(h http.Header) {
	for k, v := range hostileHeaders {
		h.Set(k, v)
	}
	for k, v := range roomOwnHeaders {
		h.Set(k, v)
	}
}

func TestOriginWideResponseHeadersStayAtTheDoor(t *testing.T) {
	d := startDoor(t)
	id, _, _ := d.openRoom("hostile")

	check := func(t *testing.T, h http.Header, keep map[string]string) {
		t.Helper()
		for k := range hostileHeaders {
			if v, ok := h[k]; ok {
				t.Errorf("the browser got %s: %q", k, v)
			}
		}
		for k, v := range keep {
			if got := h.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}
	t.Run("page", func(t *testing.T) {
		r := d.get("/r/"+id+"/hostile", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		check(t, r.header, roomOwnHeaders)
	})
	t.Run("websocket handshake", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, d.url+"/r/"+id+"/ws-hostile", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://video.example.test"}}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer func() { _ = c.CloseNow() }()
		check(t, resp.Header, roomOwnHeaders)
	})
	t.Run("fallbacks for a room that sets none", func(t *testing.T) {
		r := d.get("/r/"+id+"/", nil)
		check(t, r.header, map[string]string{
			"Content-Security-Policy": "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
			"Referrer-Policy":         "no-referrer",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
		})
	})
}

func TestOnlyTheDoorsOwnHSTS(t *testing.T) {
	d := startDoor(t, func(o *frontdoor.Options) { o.HSTS = true })
	id, _, _ := d.openRoom("hsts")
	r := d.get("/r/"+id+"/hostile", nil)
	if got := r.header.Values("Strict-Transport-Security"); !slices.Equal(got, []string{"max-age=63072000"}) {
		t.Errorf("Strict-Transport-Security %q, want only the front door's", got)
	}
}

// TestRoomLearnsOnlyAPseudonymOfTheSource: the room server can tell
// sources apart (to slow down one that keeps guessing tokens) but learns
// no address: the same source has the same pseudonym, another source
// another one.
func TestRoomLearnsOnlyAPseudonymOfTheSource(t *testing.T) {
	d := startDoor(t, func(o *frontdoor.Options) {
		o.Limits.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	id, _, b := d.openRoom("anna")
	sources := []string{"198.51.100.1", "198.51.100.1", "198.51.100.2"}
	var got []string
	for _, src := range sources {
		r := d.get("/r/"+id+"/", http.Header{"X-Forwarded-For": {src}})
		if r.status != http.StatusOK {
			t.Fatalf("GET from %s: %d", src, r.status)
		}
		seen := b.requests()
		p := seen[len(seen)-1].Header.Get(protocol.SourceHeader)
		if p == "" || strings.Contains(p, "198.51") {
			t.Fatalf("source header %q", p)
		}
		got = append(got, p)
	}
	if got[0] != got[1] || got[0] == got[2] {
		t.Fatalf("pseudonyms %q: want the same for the same source, another for another", got)
	}
}
