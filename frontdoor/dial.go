package frontdoor

import (
	"context"
	"net"
	"net/http"
	"time"
)

// DialFunc dials a network address, like net.Dialer.DialContext. The local
// setup passes one that stands in for the cluster's DNS
// (internal/devenv/resolver).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Bounds of the way to a room server.
const (
	dialTimeout           = 5 * time.Second
	responseHeaderTimeout = 15 * time.Second
	idleConnTimeout       = 90 * time.Second
)

// newTransport is the transport to the room servers: HTTP/1.1 (WebSocket
// upgrades need it), no proxy from the environment, dial through dial.
func newTransport(dial DialFunc) *http.Transport {
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
	}
}
