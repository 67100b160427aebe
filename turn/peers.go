package turn

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// DefaultDeniedPeers are the ranges a relay never sends to unless a more
// specific allow rule says so: this host, private networks, carrier-grade
// NAT, link-local, documentation, benchmarking, multicast and reserved
// ranges, and the IPv6 transition prefixes that embed an IPv4 address
// (NAT64, 6to4, Teredo), so that a TURN allocation cannot become a way
// into the cluster or the data centre network.
var DefaultDeniedPeers = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),      // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, RFC 6598
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),   // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),  // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("::1/128"),         // loopback
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/32"),       // Teredo
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4
	netip.MustParsePrefix("fc00::/7"),        // unique local (ULA)
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("ff00::/8"),        // multicast
}

// PeerPolicy decides which peer addresses an allocation may relay to and
// receive from. The most specific matching rule wins; for the same prefix a
// configured rule beats a default one, and a configured deny beats a
// configured allow; an address no rule matches is allowed. The zero value
// allows every peer; use NewPeerPolicy for the defaults.
type PeerPolicy struct {
	rules []peerRule
}

type peerRule struct {
	prefix netip.Prefix
	allow  bool
	rank   int // breaks ties between rules with the same prefix length
}

// Ranks of rules of the same prefix length, higher wins.
const (
	rankDefault = iota
	rankAllow
	rankDeny
)

// NewPeerPolicy returns a policy that denies DefaultDeniedPeers and deny
// (for example the cluster's Pod and Service CIDRs), and allows allow, which
// may carve exceptions out of the denied ranges (tests on loopback allow
// 127.0.0.0/8).
func NewPeerPolicy(allow, deny []netip.Prefix) *PeerPolicy {
	p := &PeerPolicy{}
	for _, d := range DefaultDeniedPeers {
		p.rules = append(p.rules, peerRule{prefix: d.Masked(), rank: rankDefault})
	}
	for _, d := range deny {
		p.rules = append(p.rules, peerRule{prefix: unmapPrefix(d), rank: rankDeny})
	}
	for _, a := range allow {
		p.rules = append(p.rules, peerRule{prefix: unmapPrefix(a), allow: true, rank: rankAllow})
	}
	return p
}

// plainAddr is ip as peers and the host's addresses are compared: an
// IPv4-mapped IPv6 address as its IPv4 address, without a zone.
func plainAddr(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// Allowed reports whether ip may be a peer. IPv4-mapped IPv6 addresses are
// judged as the IPv4 address they carry.
func (p *PeerPolicy) Allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = plainAddr(ip)
	best, allowed := -1, true
	for _, r := range p.rules {
		if !r.prefix.Contains(ip) {
			continue
		}
		if score := r.prefix.Bits()*4 + r.rank; score > best {
			best, allowed = score, r.allow
		}
	}
	return allowed
}

// AllowedIP is Allowed for a net.IP.
func (p *PeerPolicy) AllowedIP(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	return ok && p.Allowed(addr)
}

// AllowedAddr is Allowed for the IP of a *net.UDPAddr or *net.TCPAddr; any
// other address is refused.
func (p *PeerPolicy) AllowedAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UDPAddr:
		return p.AllowedIP(a.IP)
	case *net.TCPAddr:
		return p.AllowedIP(a.IP)
	default:
		return false
	}
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses; empty items are skipped.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("parse peer address %q: %w", item, err)
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("parse peer prefix %q: %w", item, err)
		}
		out = append(out, prefix)
	}
	return out, nil
}

// unmapPrefix turns ::ffff:a.b.c.d/n (n >= 96) into a.b.c.d/(n-96), so that
// rules written either way match the unmapped addresses Allowed compares.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p
}
