package frontdoor

import "net/http"

// originWideHeaders are response headers that act on the whole origin,
// which every room shares with the front door, not on the one response: a
// room server (or a process that captured a room's Service) must not set
// cookies for the next room, let a service worker take over all rooms,
// wipe another room's storage, send the origin's traffic elsewhere,
// switch HSTS off, collect network error reports with room URLs, or make
// browsers send client hints to every room. The front door drops them from
// every proxied response, WebSocket handshakes included; its own HSTS is
// set after the room's is gone.
var originWideHeaders = []string{
	"Set-Cookie",
	"Set-Cookie2",
	"Service-Worker-Allowed",
	"Clear-Site-Data",
	"Alt-Svc",
	"Strict-Transport-Security",
	"Public-Key-Pins",
	"Public-Key-Pins-Report-Only",
	"Expect-Ct",
	"Nel",
	"Report-To",
	"Reporting-Endpoints",
	"Accept-Ch",
	"Accept-Ch-Lifetime",
	"Critical-Ch",
	"Origin-Agent-Cluster",
	"Set-Login",
	// Cross-origin reads of a room's responses are never needed.
	"Access-Control-Allow-Origin",
	"Access-Control-Allow-Credentials",
	"Access-Control-Allow-Headers",
	"Access-Control-Allow-Methods",
	"Access-Control-Expose-Headers",
}

// fallbackHeaders are set on a proxied response that lacks them: the room
// server sets all of them (and its own Content-Security-Policy), so they
// only matter for a room server that does not. The fallback policy
// restricts only what no room page needs, so a room of an older version
// keeps working.
var fallbackHeaders = map[string]string{
	"Content-Security-Policy": "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
	"Referrer-Policy":         "no-referrer",
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
}

// sanitizeResponse drops the origin-wide headers from a room server's
// response and adds the fallback security headers it lacks.
func sanitizeResponse(h http.Header) {
	for _, k := range originWideHeaders {
		h.Del(k)
	}
	for k, v := range fallbackHeaders {
		if h.Get(k) == "" {
			h.Set(k, v)
		}
	}
}
