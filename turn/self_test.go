package turn_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// silence is how long a service on the host listens for a datagram the
// relay must not deliver.
const silence = 300 * time.Millisecond

// hostAddress returns a non-loopback IPv4 address of this machine, nil when
// it has none.
func hostAddress(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.To4()
		}
	}
	return nil
}

// listenUDP is a UDP socket on ip that plays a service on the TURN host;
// port 0 picks a free port.
func listenUDP(t *testing.T, ip net.IP, port int) (*net.UDPConn, error) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port})
	if err == nil {
		t.Cleanup(func() { _ = conn.Close() })
	}
	return conn, err
}

// TestNeverRelaysToItself runs the configuration docs/turn.md recommends
// (hostNetwork: the public IP is the node's own address, allowed with
// -allow-peers=<public-ip>/32 where it is private, relay sockets bound to
// 0.0.0.0, a relay port range) and checks what a service on the TURN host
// would notice: no datagram through the relay reaches it, on loopback or
// on the node's address, not even on an unused port inside the relay
// range, and it cannot send into an allocation either; while relay to
// relay, which relay-only calls need, still works.
func TestNeverRelaysToItself(t *testing.T) {
	const minPort, maxPort = 40000, 44999
	publicIPs := []net.IP{net.IPv4(127, 0, 0, 1)}
	if ip := hostAddress(t); ip != nil {
		publicIPs = append(publicIPs, ip)
	}
	for _, public := range publicIPs {
		name := "public IP on loopback"
		if !public.IsLoopback() {
			name = "public IP is the host's interface address"
		}
		t.Run(name, func(t *testing.T) {
			pub, _ := netip.AddrFromSlice(public.To4())
			srv, err := turn.New(turn.Config{
				Realm: testRealm, Secret: []byte(testSecret), UDPAddress: "127.0.0.1:0",
				RelayIP: public, RelayBindIP: "0.0.0.0", MinPort: minPort, MaxPort: maxPort,
				Peers: turn.NewPeerPolicy([]netip.Prefix{netip.PrefixFrom(pub, 32)}, nil),
			})
			if err != nil {
				t.Fatalf("turn.New() = %v", err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			alloc := func(room string) *turntest.Allocation {
				cred := turncred.Mint([]byte(testSecret), room, time.Now().Add(time.Hour))
				a, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
				if err != nil {
					t.Fatalf("Allocate() = %v", err)
				}
				t.Cleanup(a.Close)
				return a
			}
			a, b := alloc("room-self-a"), alloc("room-self-b")

			// Services on the host: on the public IP and on loopback, on a
			// free port, and on the public IP on a free port inside the
			// relay range that no allocation holds.
			services := map[string]*net.UDPConn{}
			for _, ip := range []net.IP{public, net.IPv4(127, 0, 0, 1)} {
				c, err := listenUDP(t, ip, 0)
				if err != nil {
					t.Fatal(err)
				}
				services[c.LocalAddr().String()] = c
			}
			for port := maxPort; port > maxPort-50; port-- {
				if c, err := listenUDP(t, public, port); err == nil {
					services[c.LocalAddr().String()] = c
					break
				}
			}
			relayAddr := a.Relay.LocalAddr().(*net.UDPAddr)
			for addr, svc := range services {
				// Several datagrams: pion's client sends the first as a Send
				// indication, later ones over a channel binding.
				for range 3 {
					_, _ = a.Relay.WriteTo([]byte("to the host"), svc.LocalAddr())
					time.Sleep(20 * time.Millisecond)
				}
				if got, silent := turntest.Silent(svc, silence); !silent {
					t.Errorf("service on the TURN host at %s got %q through the relay", addr, got)
				}
				// The other way: a local service cannot send into the relay.
				_, _ = svc.WriteToUDP([]byte("from the host"), &net.UDPAddr{IP: public, Port: relayAddr.Port})
				if got, silent := turntest.Silent(a.Relay, silence); !silent {
					t.Errorf("allocation got %q from the host's service at %s", got, addr)
				}
			}
			if !public.IsLoopback() {
				if err := a.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}); turnCode(err) != 403 {
					t.Errorf("CreatePermission(loopback) = %v, want 403", err)
				}
			}
			if err := a.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 4000}); turnCode(err) != 403 {
				t.Errorf("CreatePermission(127.0.0.2) = %v, want 403", err)
			}

			// Relay to relay: each side's peer is the other's relay address.
			for i, pair := range [][2]*turntest.Allocation{{a, b}, {b, a}} {
				from, to := pair[0], pair[1]
				if err := to.CreatePermission(from.Relay.LocalAddr()); err != nil {
					t.Fatalf("CreatePermission(other relay) = %v", err)
				}
				for range 3 {
					if _, err := from.Relay.WriteTo([]byte("frame"), to.Relay.LocalAddr()); err != nil {
						t.Fatalf("relay %d WriteTo(other relay) = %v", i, err)
					}
				}
				if got, silent := turntest.Silent(to.Relay, 5*time.Second); silent || got != "frame" {
					t.Fatalf("relay to relay %d: got %q (nothing: %v), want %q", i, got, silent, "frame")
				}
			}
		})
	}
}

// TestAllocationBudgetPerClient checks that one client address cannot use
// up a room's allocations: with the defaults it gets
// DefaultMaxAllocationsPerClient, and a second address still gets one.
func TestAllocationBudgetPerClient(t *testing.T) {
	srv := startOwn(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cred := turncred.Mint([]byte(testSecret), "room-budget", time.Now().Add(time.Hour))
	granted := 0
	for range turn.DefaultMaxAllocationsPerUser {
		a, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
		if err != nil {
			if code := turnCode(err); code != 486 {
				t.Fatalf("Allocate() = %v (code %d), want 486 once the budget is used", err, code)
			}
			break
		}
		defer a.Close()
		granted++
	}
	if granted != turn.DefaultMaxAllocationsPerClient {
		t.Fatalf("one client address got %d of the room's %d allocations, want %d",
			granted, turn.DefaultMaxAllocationsPerUser, turn.DefaultMaxAllocationsPerClient)
	}
	other, err := turntest.AllocateFrom(ctx, net.IPv4(127, 0, 0, 2), srv.UDPAddr(), cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("the other side of the room, from another address: Allocate() = %v", err)
	}
	other.Close()
	if got := metricValue(t, srv.reg, "sprechzimmer_turn_allocation_refusals_total", "reason", turn.RefusalClientQuota); got < 1 {
		t.Errorf("allocation_refusals_total{reason=client_quota} = %v, want >= 1", got)
	}
}

// TestRelayEndsWithCredential checks that an allocation stops relaying
// when its credential expires, in both directions, although its
// permission and channel binding would live on for minutes.
func TestRelayEndsWithCredential(t *testing.T) {
	start := time.Now()
	var clock fakeClock
	clock.set(start)
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{
		Realm: testRealm, Secret: []byte(testSecret), UDPAddress: "127.0.0.1:0",
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
		Peers: turn.NewPeerPolicy([]netip.Prefix{loopback}, nil), UnsafeHostPeers: true, // a peer on loopback
		Now: clock.get, Registerer: reg,
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cred := turncred.Mint([]byte(testSecret), "room-expiry", start.Add(time.Hour))
	alloc, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() = %v", err)
	}
	defer alloc.Close()
	peer := udpPeer(t)
	for range 3 { // a permission and a channel binding, as a call has
		if _, err := alloc.Relay.WriteTo([]byte("media"), peer.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, silent := turntest.Silent(peer, 5*time.Second); silent || got != "media" {
		t.Fatalf("before expiry the peer got %q (nothing: %v), want media", got, silent)
	}
	for { // the other two copies
		if _, silent := turntest.Silent(peer, 100*time.Millisecond); silent {
			break
		}
	}

	clock.set(start.Add(time.Hour + time.Second)) // the room has expired
	for range 3 {
		_, _ = alloc.Relay.WriteTo([]byte("after expiry"), peer.LocalAddr())
	}
	if got, silent := turntest.Silent(peer, silence); !silent {
		t.Errorf("after the credential expired the peer got %q through the relay", got)
	}
	_, _ = peer.WriteTo([]byte("answer after expiry"), alloc.Relay.LocalAddr())
	if got, silent := turntest.Silent(alloc.Relay, silence); !silent {
		t.Errorf("after the credential expired the client got %q through the relay", got)
	}
	if got := metricValue(t, reg, "sprechzimmer_turn_expired_datagrams_total", "", ""); got < 1 {
		t.Errorf("expired_datagrams_total = %v, want >= 1", got)
	}
	waitNoAllocations(t, srv, 2*time.Second)
}

// TestAllocationEndsAtExpiry checks that an allocation nobody uses is
// deleted when its credential expires, so that its port and its place in
// the room's quota are free again, without waiting for its lifetime.
func TestAllocationEndsAtExpiry(t *testing.T) {
	srv := startOwn(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Expiries are whole seconds: this one is one to two seconds away.
	cred := turncred.Mint([]byte(testSecret), "room-short", time.Now().Add(2*time.Second))
	alloc, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() = %v", err)
	}
	defer alloc.Close()
	if n := srv.Allocations(); n != 1 {
		t.Fatalf("Allocations() = %d, want 1", n)
	}
	waitNoAllocations(t, srv, 5*time.Second)
}

// waitNoAllocations fails unless srv's allocations are gone within d.
func waitNoAllocations(t *testing.T, srv interface{ Allocations() int }, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for srv.Allocations() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d allocations left %v after the credential expired, want none", srv.Allocations(), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func (c *fakeClock) get() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// metricValue sums the counters and gauges called name in reg, only those
// with label=value when label is set.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || hasLabel(m.GetLabel(), label, value) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
