// Package resolver is the local setup's stand-in for the cluster's DNS: it
// dials the host names of room Services by a table, so that several room
// servers on one loopback interface can stand in for several Services on
// port 80. Its DialContext goes into the front door's Options.Dial; the
// front door's tests use it the same way.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds one dial, like the front door's own dialer.
const dialTimeout = 5 * time.Second

// ErrNoAddress is what Static.DialContext fails with for a host it does not
// know, inside a *net.OpError with Op "dial", as a failed DNS lookup comes
// from a net.Dialer: the front door counts both as a dial failure.
var ErrNoAddress = errors.New("no address for this host")

// Static dials host names by a table instead of DNS: a host maps to a full
// address. It is safe for concurrent use, and entries may change while it
// is in use.
type Static struct {
	mu     sync.RWMutex
	hosts  map[string]string
	dialer net.Dialer
}

// NewStatic returns an empty table.
func NewStatic() *Static {
	return &Static{hosts: map[string]string{}, dialer: net.Dialer{Timeout: dialTimeout}}
}

// Set maps host (e.g. frontdoor.ServiceHost(name, ns, domain)) to addr
// (e.g. 127.0.0.1:41234); the port the caller dials is replaced by addr's.
func (r *Static) Set(host, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[host] = addr
}

// Delete forgets host.
func (r *Static) Delete(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hosts, host)
}

// DialContext dials the address host maps to; unknown hosts fail without
// touching the network.
func (r *Static) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("static resolver: %w", err)
	}
	r.mu.RLock()
	target, ok := r.hosts[host]
	r.mu.RUnlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("static resolver: %w", ErrNoAddress)}
	}
	return r.dialer.DialContext(ctx, network, target)
}
