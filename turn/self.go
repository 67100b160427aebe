package turn

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// selfGuard keeps relays from reaching the TURN host itself: to and from
// the host's own addresses only the ports of this server's live relay
// allocations are allowed (relay to relay, the call where both browsers
// need TURN), whatever the peer policy says about those addresses.
//
// Besides the addresses in own, every loopback address (Linux answers on
// all of 127/8) and the unspecified addresses (which Linux delivers
// locally: the loopback bypass of CVE-2020-26262 in coturn) are the host's.
// A guard with a nil own map knows no address of the host and allows all.
type selfGuard struct {
	own map[netip.Addr]struct{} // never changed after newSelfGuard
	// relay are the own addresses the relay sockets can be reached on;
	// nil when they are bound to the unspecified address (all of them).
	relay map[netip.Addr]struct{}

	mu    sync.RWMutex
	ports map[uint16]int // live relay ports and how many sockets hold each
}

// newSelfGuard returns a guard for the host's addresses: loopback, the
// unspecified addresses, every interface address, and extra (the relay,
// bind and listen addresses). relay, when not nil, are the only addresses
// the relay sockets can be reached on (their bind address and the public
// address that leads to it).
func newSelfGuard(relay []net.IP, extra ...net.IP) (*selfGuard, error) {
	g := &selfGuard{own: map[netip.Addr]struct{}{}, ports: map[uint16]int{}}
	if relay != nil {
		g.relay = map[netip.Addr]struct{}{}
		for _, ip := range relay {
			if addr, ok := netip.AddrFromSlice(ip); ok {
				g.relay[plainAddr(addr)] = struct{}{}
			}
		}
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the host's addresses: %w", err)
	}
	ips := append([]net.IP(nil), extra...)
	for _, a := range ifaddrs {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	for _, ip := range ips {
		if addr, ok := netip.AddrFromSlice(ip); ok {
			g.own[plainAddr(addr)] = struct{}{}
		}
	}
	return g, nil
}

// isOwn reports whether ip is one of the host's addresses.
func (g *selfGuard) isOwn(ip netip.Addr) bool {
	if g.own == nil {
		return false
	}
	ip = plainAddr(ip)
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	_, own := g.own[ip]
	return own
}

// allowed reports whether a datagram may go to or come from addr: any
// address that is not the host's, and on the host's addresses only live
// relay ports.
func (g *selfGuard) allowed(addr net.Addr) bool {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(u.IP)
	if !ok || !g.isOwn(ip) {
		return ok
	}
	if _, relay := g.relay[plainAddr(ip)]; g.relay != nil && !relay {
		return false // an own address no relay socket listens on
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return u.Port > 0 && u.Port <= 0xffff && g.ports[uint16(u.Port)] > 0
}

// add records a relay socket on port (d = +1) or its end (d = -1).
func (g *selfGuard) add(port int, d int) {
	if port <= 0 || port > 0xffff {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := uint16(port)
	if g.ports[p] += d; g.ports[p] <= 0 {
		delete(g.ports, p)
	}
}
