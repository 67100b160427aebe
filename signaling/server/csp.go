package server

import (
	"net/http"
	"net/url"
	"regexp"
)

// pagePolicy is the room page's Content-Security-Policy without its
// connect-src: scripts, styles, images and everything else only from the
// room's own origin and never inline; no plugins, no <base>, no form
// submissions (the page sends its form through the WebSocket) and no
// framing.
const pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// safeHost is what a host may look like to be named in the policy: a name
// or an address with an optional port, nothing that could end a directive.
var safeHost = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// contentSecurityPolicy returns the room page's policy. connect-src
// allows the page's own origin and, spelled out, the WebSocket form of it:
// CSP Level 3 lets 'self' match ws: and wss: of the same host, but not
// every browser does (Safari did not until 2022). The origin is the public
// URL's when the room has one (behind the front door the request's Host is
// the Service's), otherwise the request's own.
func contentSecurityPolicy(public *url.URL, r *http.Request) string {
	scheme, host := "ws", r.Host
	if r.TLS != nil {
		scheme = "wss"
	}
	if public != nil {
		scheme, host = "ws", public.Host
		if public.Scheme == "https" {
			scheme = "wss"
		}
	}
	connect := "connect-src 'self'"
	if safeHost.MatchString(host) {
		connect += " " + scheme + "://" + host
	}
	return pagePolicy + "; " + connect
}
