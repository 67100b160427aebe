package turn

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// alwaysOwn are addresses that reach the TURN host itself wherever it runs:
// the whole loopback range (Linux answers on every 127.x address) and the
// unspecified addresses, which Linux delivers locally too (the loopback
// bypass of CVE-2020-26262 in coturn).
var alwaysOwn = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("0.0.0.0/32"),
	netip.MustParsePrefix("::/128"),
}

// selfGuard keeps relays from reaching the TURN host itself: to and from
// the host's own addresses only the ports of this server's live relay
// allocations are allowed (relay to relay, the call where both browsers
// need TURN), whatever the peer policy says about those addresses.
type selfGuard struct {
	own []netip.Prefix // never changed after newSelfGuard

	mu    sync.RWMutex
	ports map[uint16]int // live relay ports and how many sockets hold each
}

// newSelfGuard returns a guard for the host's addresses: alwaysOwn, every
// interface address, and extra (the relay, bind and listen addresses).
func newSelfGuard(extra ...net.IP) (*selfGuard, error) {
	g := &selfGuard{own: append([]netip.Prefix(nil), alwaysOwn...), ports: map[uint16]int{}}
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
			addr = addr.Unmap().WithZone("")
			g.own = append(g.own, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	return g, nil
}

// isOwn reports whether ip is one of the host's addresses.
func (g *selfGuard) isOwn(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range g.own {
		if p.Contains(ip) {
			return true
		}
	}
	return false
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
