package turn

import (
	"net"
	"net/netip"
	"testing"
)

func TestPeerPolicyAllowed(t *testing.T) {
	p := func(s string) []netip.Prefix {
		out, err := ParsePrefixes(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name  string
		allow []netip.Prefix
		deny  []netip.Prefix
		peers map[string]bool
	}{
		{name: "defaults", peers: map[string]bool{
			"8.8.8.8": true, "2a00:1450:4001::1": true,
			"127.0.0.1": false, "10.0.0.1": false, "172.31.255.255": false, "172.32.0.1": true,
			"192.168.0.1": false, "100.64.0.1": false, "100.128.0.1": true, "169.254.169.254": false,
			"0.0.0.0": false, "255.255.255.255": false, "239.1.1.1": false,
			"::1": false, "::": false, "fd00::1": false, "fe80::1": false, "ff02::1": false,
			"::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::a00:1": false, "2002:a00:1::1": false,
		}},
		{name: "cluster ranges denied", deny: p("203.0.114.0/24, 2a00:1450::/32"), peers: map[string]bool{
			"203.0.114.7": false, "203.0.115.7": true, "2a00:1450:4001::1": false,
		}},
		{name: "loopback allowed for tests", allow: p("127.0.0.0/8"), peers: map[string]bool{
			"127.0.0.1": true, "10.0.0.1": false,
		}},
		{name: "a narrower deny inside an allow wins", allow: p("10.0.0.0/8"), deny: p("10.96.0.0/12"), peers: map[string]bool{
			"10.1.0.1": true, "10.96.0.10": false,
		}},
		{name: "a configured deny beats an allow of the same prefix", allow: p("127.0.0.1"), deny: p("127.0.0.1/32"), peers: map[string]bool{
			"127.0.0.1": false,
		}},
		{name: "mapped prefixes match unmapped addresses", deny: p("::ffff:198.51.99.0/120"), peers: map[string]bool{
			"198.51.99.1": false,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := NewPeerPolicy(tt.allow, tt.deny)
			for ip, want := range tt.peers {
				if got := policy.Allowed(netip.MustParseAddr(ip)); got != want {
					t.Errorf("Allowed(%s) = %v, want %v", ip, got, want)
				}
			}
		})
	}
}

func TestParsePrefixesRefusesGarbage(t *testing.T) {
	for _, in := range []string{"10.0.0.0/33", "cluster", "10.0.0.0/8,,nope"} {
		if _, err := ParsePrefixes(in); err == nil {
			t.Errorf("ParsePrefixes(%q) = nil error, want one", in)
		}
	}
}

func TestSelfGuardAllowsOnlyLiveRelayPorts(t *testing.T) {
	g, err := newSelfGuard(nil, net.ParseIP("203.0.113.10"))
	if err != nil {
		t.Fatal(err)
	}
	g.add(50000, 1)
	g.add(50001, 1)
	g.add(50001, -1) // that allocation ended
	tests := []struct {
		addr string
		want bool
	}{
		{"203.0.113.10:50000", true},  // a live relay: relay to relay
		{"203.0.113.10:50001", false}, // a relay port no allocation holds
		{"203.0.113.10:53", false},    // a service on the public IP
		{"127.0.0.1:50000", true},     // loopback reaches the relay too
		{"127.0.0.1:6379", false},     // a service on loopback
		{"127.9.9.9:6379", false},     // all of 127/8 is the host
		{"0.0.0.0:6379", false},       // delivered locally
		{"[::1]:6379", false},         // IPv6 loopback
		{"[::ffff:127.0.0.1]:6379", false},
		{"198.51.100.7:6379", true}, // another host: the peer policy decides
	}
	for _, tt := range tests {
		if got := g.allowed(net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.addr))); got != tt.want {
			t.Errorf("allowed(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	bound, err := newSelfGuard([]net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bound.add(50000, 1)
	if !bound.allowed(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}) {
		t.Error("relay sockets bound to 127.0.0.1: its live relay port refused")
	}
	if bound.allowed(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 50000}) {
		t.Error("relay sockets bound to 127.0.0.1: another service on 127.0.0.2 with a relay's port number allowed")
	}
	if off := (&selfGuard{ports: map[uint16]int{}}); !off.allowed(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6379}) {
		t.Error("a guard without own addresses (UnsafeHostPeers) refused loopback")
	}
}
