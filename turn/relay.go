package turn

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// errTCPRelay is returned for TCP relay allocations (RFC 6062), which
// browsers do not use and this server does not offer.
var errTCPRelay = errors.New("tcp relay allocations are not supported")

// errPeerDenied is returned when a relay socket is asked to send to a peer
// in a denied range.
var errPeerDenied = errors.New("peer address is in a denied range")

// errOwnAddress is returned when a relay socket is asked to send to the
// TURN host itself on a port that is not a relay allocation.
var errOwnAddress = errors.New("peer is the turn host itself, not one of its relays")

// errCredentialExpired is returned when a relay socket is asked to send
// after the allocation's credential has expired.
var errCredentialExpired = errors.New("the allocation's credential has expired")

// relayGenerator allocates UDP relay sockets through a pion generator and
// wraps them so that every datagram is counted and checked against the
// peer policy, a second line behind the permission handler, against the
// host's own addresses, which only the relay ports may be reached on, and
// against the expiry of the credential the allocation was made with.
type relayGenerator struct {
	inner   pionturn.RelayAddressGenerator
	policy  *PeerPolicy
	self    *selfGuard
	now     func() time.Time
	metrics *metrics
	buffer  int // socket buffer size for relay sockets
	group   *udpbatch.Group
	batch   int // Config.BatchSize
	routes  *routes
}

// Validate implements pionturn.RelayAddressGenerator.
func (g *relayGenerator) Validate() error { return g.inner.Validate() }

// AllocatePacketConn implements pionturn.RelayAddressGenerator.
func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.inner.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	// The auth handler admits only turncred usernames, which carry the expiry.
	expiry, err := turncred.Expiry(c.UserID)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	setBuffers(conn, g.buffer)
	conn = batched(conn, g.group, min(g.batch, maxRelayReadBatch), g.batch)
	port := 0
	if u, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		port = u.Port
	}
	g.self.add(port, 1)
	rc := &relayConn{
		PacketConn: conn, policy: g.policy, self: g.self, port: port,
		expiry: expiry, now: g.now, metrics: g.metrics, routes: g.routes,
	}
	g.routes.addRelay(rc)
	// At the expiry the blocked read returns, and pion deletes the
	// allocation, freeing its port and its place in the quotas.
	rc.timer = time.AfterFunc(expiry.Sub(g.now()), func() { _ = conn.SetReadDeadline(time.Now()) })
	return rc, addr, nil
}

// AllocateListener implements pionturn.RelayAddressGenerator; TCP relays are refused.
func (g *relayGenerator) AllocateListener(pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

// AllocateConn implements pionturn.RelayAddressGenerator; TCP relays are refused.
func (g *relayGenerator) AllocateConn(pionturn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

// relayConn is one allocation's relay socket.
type relayConn struct {
	net.PacketConn
	policy  *PeerPolicy
	self    *selfGuard
	port    int       // the relay port, registered with self while open
	expiry  time.Time // the credential's expiry: nothing is relayed after it
	now     func() time.Time
	metrics *metrics
	timer   *time.Timer // ends reading at the expiry
	closed  sync.Once
	routes  *routes
	// route is the allocation's entry in routes once pion has created it:
	// datagrams from peers with a bound channel go to the client from here.
	route atomic.Pointer[route]
}

// ReadFrom drops datagrams from denied peers and from the host itself
// other than from its relays, and counts the rest. Once the credential has
// expired it drops the datagram and fails, and pion deletes the allocation.
// Datagrams from a peer with a bound channel it sends to the client
// itself; the others (Data indications) it hands to pion.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if err := c.check(addr); errors.Is(err, errCredentialExpired) {
			return 0, nil, err
		} else if err != nil {
			continue
		}
		c.metrics.fromPeer.Add(float64(n))
		if rt := c.route.Load(); rt != nil && rt.toClient(p[:n], addr) {
			continue
		}
		return n, addr, nil
	}
}

// WriteTo refuses denied peers, the host itself other than its relays, and
// every peer once the credential has expired; it counts what it sends.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if err := c.check(addr); err != nil {
		return 0, err
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.metrics.toPeer.Add(float64(n))
	return n, err
}

// Close closes the socket and frees its port in the self guard.
func (c *relayConn) Close() error {
	c.closed.Do(func() {
		c.timer.Stop()
		c.self.add(c.port, -1)
		c.routes.removeRelay(c)
	})
	return c.PacketConn.Close()
}

// check decides about one datagram to or from addr and counts refusals.
func (c *relayConn) check(addr net.Addr) error {
	switch {
	case !c.now().Before(c.expiry):
		c.metrics.expiredDrops.Inc()
		return errCredentialExpired
	case !c.policy.AllowedAddr(addr):
		c.metrics.peersRefused.Inc()
		return errPeerDenied
	case !c.self.allowed(addr):
		c.metrics.peersRefused.Inc()
		return errOwnAddress
	}
	return nil
}
