// Package frontdoor is the public entrance to the rooms: it routes
// /r/<room-id>/... to that room's signaling Service with the /r/<room-id>
// prefix stripped, WebSocket upgrades included. Rooms are found in an
// informer cache of the Services the operator makes (see Directory; what
// makes a Service a room is package roomcontract), so a new room needs no
// Ingress object and no reload.
//
// Unknown, expired and malformed room ids get one and the same 404, so the
// answers tell nobody which rooms exist. Only the path reaches a room
// server: no query, no cookies, no client address; a room server learns
// where a request comes from only as a pseudonym (protocol.SourceHeader),
// for slowing down token guessing. Logs and metrics name a route and a
// status class, never a room, token or address.
package frontdoor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"sync"

	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// Options configure a Handler.
type Options struct {
	// Directory finds the rooms (required).
	Directory *Directory
	// Dial dials the room servers; nil means the system's resolver. The
	// local setup passes a table of its own (internal/devenv/resolver).
	Dial DialFunc
	// Metrics counts requests; nil means unregistered metrics.
	Metrics *Metrics
	// Logger receives upstream errors and, with AccessLog, one line per
	// request (route and status only); nil means JSON to stderr.
	Logger *slog.Logger
	// AccessLog logs every request.
	AccessLog bool
	// HSTS adds Strict-Transport-Security to every response; set it when
	// the front door itself serves TLS.
	HSTS bool
	// Limits bound the proxied requests in flight per source and per room;
	// the zero value means the defaults.
	Limits Limits
}

// Handler is the front door's http.Handler.
type Handler struct {
	opts  Options
	proxy *httputil.ReverseProxy
	// sourceKey keys the pseudonyms of sources; random, of this process.
	sourceKey []byte
	log       *slog.Logger
	limits    *limiter
	wg        sync.WaitGroup
}

// New builds a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Directory == nil {
		return nil, errors.New("frontdoor: a Directory is required")
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	h := &Handler{opts: opts, log: opts.Logger, limits: newLimiter(opts.Limits), sourceKey: make([]byte, 32)}
	_, _ = rand.Read(h.sourceKey) // crypto/rand.Read never fails on supported platforms.
	if h.log == nil {
		h.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      newTransport(opts.Dial),
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.upstreamError,
		// Its own messages carry addresses; errors go through ErrorHandler.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return h, nil
}

// Wait returns when every request the Handler is serving has ended,
// proxied WebSockets included. After http.Server.Shutdown, cancel the
// server's base context (which closes the WebSockets), then Wait.
func (h *Handler) Wait() { h.wg.Wait() }

// proxyKey keys the proxyRequest in a request's context.
type proxyKey struct{}

// proxyRequest is what ServeHTTP tells the proxy about one request.
type proxyRequest struct {
	target   *url.URL
	path     string
	source   string // pseudonym of the source, for protocol.SourceHeader
	upgraded bool
}

// ServeHTTP routes one request and counts it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.wg.Add(1)
	defer h.wg.Done()
	sw := &statusWriter{ResponseWriter: w}
	if h.opts.HSTS {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
	}
	route, pr := h.serve(sw, r)
	status := sw.status
	if pr != nil && pr.upgraded {
		status = http.StatusSwitchingProtocols
	}
	if status == 0 {
		status = http.StatusOK
	}
	h.opts.Metrics.request(route, status)
	if h.opts.AccessLog {
		h.log.Info("request", "route", route, "status", status)
	}
}

// serve answers r and returns its route name and, when it was proxied,
// what the proxy did.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (string, *proxyRequest) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		generated(w, http.StatusMethodNotAllowed, "method not allowed\n")
		return RouteRefused, nil
	}
	if !h.opts.Directory.Synced() {
		w.Header().Set("Retry-After", "5")
		generated(w, http.StatusServiceUnavailable, "starting, try again shortly\n")
		return RouteUnavailable, nil
	}
	rp, ok := parseRoomPath(r.URL.Path)
	if !ok {
		notFound(w)
		return RouteNotFound, nil
	}
	if rp.rest == "" {
		// The form of the id decides, not the room: the redirect says
		// nothing about whether the room exists.
		w.Header().Set("Location", roomcontract.PathPrefix+rp.id+"/")
		generated(w, http.StatusPermanentRedirect, "")
		return RouteRedirect, nil
	}
	target, ok := h.opts.Directory.Lookup(r.Context(), rp.id)
	if !ok {
		notFound(w)
		return RouteNotFound, nil
	}
	route := RouteRoom
	if r.Header.Get("Upgrade") != "" {
		route = RouteWebSocket
	}
	src := h.limits.source(r)
	release, reason := h.limits.acquire(src, rp.id, route == RouteWebSocket)
	if reason != "" {
		h.opts.Metrics.limited.WithLabelValues(reason).Inc()
		status := http.StatusTooManyRequests
		if reason == ReasonRoom {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Retry-After", "2")
		w.Header().Set("Connection", "close") // and no idle connection kept
		generated(w, status, "too many connections, try again shortly\n")
		return RouteLimited, nil
	}
	defer release()
	pr := &proxyRequest{target: target, path: rp.rest, source: h.pseudonym(src)}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxyKey{}, pr)))
	if pr.upgraded {
		h.opts.Metrics.websockets.Dec()
	}
	return route, pr
}

// forwardedHeaders are the only request headers a room server gets: what
// serving a page and upgrading to a WebSocket need. Cookies, credentials,
// client addresses (X-Forwarded-For, X-Real-IP, Forwarded) and anything
// else the browser or an ingress adds stay at the door.
var forwardedHeaders = map[string]bool{
	"Accept":                   true,
	"Accept-Encoding":          true,
	"Accept-Language":          true,
	"Cache-Control":            true,
	"If-Modified-Since":        true,
	"If-None-Match":            true,
	"Origin":                   true,
	"Connection":               true, // set by ReverseProxy for upgrades only
	"Upgrade":                  true,
	"Sec-Websocket-Key":        true,
	"Sec-Websocket-Version":    true,
	"Sec-Websocket-Extensions": true,
	"Sec-Websocket-Protocol":   true,
}

// rewrite points the outbound request at the room server: its path is the
// path below the room, without query; the Host is the Service's.
func rewrite(pr *httputil.ProxyRequest) {
	p := pr.In.Context().Value(proxyKey{}).(*proxyRequest)
	pr.Out.URL = &url.URL{Scheme: p.target.Scheme, Host: p.target.Host, Path: p.path}
	pr.Out.Host = ""
	for k := range pr.Out.Header {
		if !forwardedHeaders[k] {
			delete(pr.Out.Header, k)
		}
	}
	if p.source != "" {
		pr.Out.Header.Set(protocol.SourceHeader, p.source)
	}
}

// pseudonym returns the name under which a room server knows src: a keyed
// hash with the front door's own random key, the same for the same source
// while this process runs, from which no address can be learned. Each
// replica of the front door has its own key. An invalid src has none.
func (h *Handler) pseudonym(src netip.Addr) string {
	if !src.IsValid() {
		return ""
	}
	mac := hmac.New(sha256.New, h.sourceKey)
	_, _ = mac.Write(src.AsSlice()) // a hash.Hash never fails to write
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// modifyResponse cleans a room server's response headers (see
// sanitizeResponse) and notes a WebSocket that has been switched to.
func (h *Handler) modifyResponse(res *http.Response) error {
	sanitizeResponse(res.Header)
	if res.StatusCode == http.StatusSwitchingProtocols {
		if p, ok := res.Request.Context().Value(proxyKey{}).(*proxyRequest); ok {
			p.upgraded = true
			h.opts.Metrics.websockets.Inc()
		}
	}
	return nil
}

// upstreamError answers a request the room server did not: 502, counted
// by a reason that names no address. A browser that went away gets
// nothing.
func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
		w.WriteHeader(499) // nginx' "client closed request"; nobody reads it
		return
	}
	reason := upstreamOther
	var nerr net.Error
	var oerr *net.OpError
	switch {
	case errors.As(err, &nerr) && nerr.Timeout():
		reason = upstreamTimeout
	case errors.As(err, &oerr) && oerr.Op == "dial":
		reason = upstreamDial
	}
	h.opts.Metrics.upstreamErrors.WithLabelValues(reason).Inc()
	h.log.Warn("room server did not answer", "reason", reason)
	generated(w, http.StatusBadGateway, "the room cannot be reached right now, try again shortly\n")
}

// notFoundPage is what a person sees who opens a link to a room that is
// not open: in plain words, in German and English, with what to do. It
// cannot say whether the room never existed or has expired: nobody may
// learn that from the front door.
const notFoundPage = `<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Sprechzimmer</title>
<style>
body { font: 1.1rem/1.5 system-ui, sans-serif; color: #1b1b1b; background: #f6f6f4; margin: 0; }
main { max-width: 36rem; margin: 3rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.5rem; color: #1d5a4c; }
hr { border: 0; border-top: 1px solid #ccc; margin: 2rem 0; }
</style>
</head>
<body>
<main>
<h1>Dieser Link ist nicht oder nicht mehr gültig.</h1>
<p>Ein Sprechzimmer ist nur kurz vor und bis einige Stunden nach dem Termin geöffnet.
Bitte prüfen Sie, ob Sie den ganzen Link geöffnet haben, oder wenden Sie sich an Ihre Therapeutin oder Ihren Therapeuten.</p>
<hr>
<h1 lang="en">This link is not valid, or no longer valid.</h1>
<p lang="en">A consultation room is open only shortly before and until a few hours after the appointment.
Please check that you opened the whole link, or contact your therapist.</p>
</main>
</body>
</html>
`

// notFound is the one 404 for every room that is not open: same status,
// headers and body whatever the reason.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	generated(w, http.StatusNotFound, notFoundPage)
}

// generated writes a response of the front door's own with its security
// headers: no caching, no referrer, no sniffing, no framing, no scripts
// (inline styles only, for the 404 page).
func generated(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	if body != "" && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// statusWriter remembers the status written; Unwrap lets the proxy reach
// the connection for WebSocket upgrades.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first final status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the underlying ResponseWriter for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
