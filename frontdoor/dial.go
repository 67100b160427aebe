package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// DialFunc dials a network address, like net.Dialer.DialContext.
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

// errNoAddress is what StaticResolver returns for a host it does not know.
var errNoAddress = errors.New("no address for this host")

// StaticResolver dials host names by a table instead of DNS: a host maps
// to a full address, so that several room servers on one loopback
// interface can stand in for several Services on port 80. The local setup
// uses it; its DialContext goes into Options.Dial. It is safe for
// concurrent use, and entries may change while it is in use.
type StaticResolver struct {
	mu     sync.RWMutex
	hosts  map[string]string
	dialer net.Dialer
}

// NewStaticResolver returns an empty table.
func NewStaticResolver() *StaticResolver {
	return &StaticResolver{hosts: map[string]string{}, dialer: net.Dialer{Timeout: dialTimeout}}
}

// Set maps host (e.g. ServiceHost(name, ns, domain)) to addr (e.g.
// 127.0.0.1:41234); the port the caller dials is replaced by addr's.
func (r *StaticResolver) Set(host, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[host] = addr
}

// Delete forgets host.
func (r *StaticResolver) Delete(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hosts, host)
}

// DialContext dials the address host maps to; unknown hosts fail without
// touching the network.
func (r *StaticResolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("static resolver: %w", err)
	}
	r.mu.RLock()
	target, ok := r.hosts[host]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("static resolver: %w", errNoAddress)
	}
	return r.dialer.DialContext(ctx, network, target)
}
