package turn

import (
	"errors"
	"net"

	pionturn "github.com/pion/turn/v5"
)

// errTCPRelay is returned for TCP relay allocations (RFC 6062), which
// browsers do not use and this server does not offer.
var errTCPRelay = errors.New("tcp relay allocations are not supported")

// errPeerDenied is returned when a relay socket is asked to send to a peer
// in a denied range.
var errPeerDenied = errors.New("peer address is in a denied range")

// relayGenerator allocates UDP relay sockets through a pion generator and
// wraps them so that every datagram is counted and checked against the
// peer policy, a second line behind the permission handler.
type relayGenerator struct {
	inner   pionturn.RelayAddressGenerator
	policy  *PeerPolicy
	metrics *metrics
	buffer  int // socket buffer size for relay sockets
}

// Validate implements pionturn.RelayAddressGenerator.
func (g *relayGenerator) Validate() error { return g.inner.Validate() }

// AllocatePacketConn implements pionturn.RelayAddressGenerator.
func (g *relayGenerator) AllocatePacketConn(c pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.inner.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	setBuffers(conn, g.buffer)
	return &relayConn{PacketConn: conn, policy: g.policy, metrics: g.metrics}, addr, nil
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
	metrics *metrics
}

// ReadFrom drops datagrams from denied peers and counts the rest.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if !c.allowed(addr) {
			c.metrics.peersRefused.Inc()
			continue
		}
		c.metrics.fromPeer.Add(float64(n))
		return n, addr, nil
	}
}

// WriteTo refuses denied peers and counts what it sends.
func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.allowed(addr) {
		c.metrics.peersRefused.Inc()
		return 0, errPeerDenied
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	c.metrics.toPeer.Add(float64(n))
	return n, err
}

func (c *relayConn) allowed(addr net.Addr) bool { return c.policy.AllowedAddr(addr) }
