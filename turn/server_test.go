package turn_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

const (
	testSecret = "test-shared-secret"
	testRealm  = "sprechzimmer.test"
)

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// ownServer is the project's TURN server on loopback with its metrics
// registry and log.
type ownServer struct {
	*turn.Server
	reg *prometheus.Registry
	log *testlog.Buffer
}

// startOwn starts the project's TURN server on a free loopback port.
func startOwn(t *testing.T, peers *turn.PeerPolicy) *ownServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	var log testlog.Buffer
	srv, err := turn.New(turn.Config{
		Realm:       testRealm,
		Secret:      []byte(testSecret),
		UDPAddress:  "127.0.0.1:0",
		RelayIP:     net.IPv4(127, 0, 0, 1),
		RelayBindIP: "127.0.0.1",
		Peers:       peers,
		// The tests' peers are sockets on loopback, the server's own host.
		UnsafeHostPeers: true,
		Registerer:      reg,
		Logger:          slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &ownServer{Server: srv, reg: reg, log: &log}
}

// startLoopback starts the project's TURN server with cfg on free
// loopback UDP and TCP ports, relaying to loopback peers.
func startLoopback(t testing.TB, cfg turn.Config) *turn.Server {
	t.Helper()
	cfg.Realm, cfg.Secret = testRealm, []byte(testSecret)
	cfg.UDPAddress, cfg.TCPAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.RelayIP, cfg.RelayBindIP = net.IPv4(127, 0, 0, 1), "127.0.0.1"
	cfg.Peers = turn.NewPeerPolicy([]netip.Prefix{loopback}, nil)
	// The peers are sockets on loopback, the server's own host.
	cfg.UnsafeHostPeers = true
	srv, err := turn.New(cfg)
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// startCoturn starts Debian's coturn on a free loopback port with further
// flags args; without coturn the test is skipped, or fails when CI=true.
func startCoturn(t *testing.T, args ...string) net.Addr {
	t.Helper()
	return runCoturn(t, turntest.CoturnConfig{Secret: testSecret, Realm: testRealm, Args: args}).Addr()
}

// runCoturn starts coturn as cfg says and stops it when t ends; without
// coturn the test is skipped, or fails when CI=true.
func runCoturn(t *testing.T, cfg turntest.CoturnConfig) *turntest.Coturn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := turntest.StartCoturn(ctx, cfg)
	if errors.Is(err, turntest.ErrNoCoturn) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skipf("skipping the coturn comparison: %v", err)
	}
	if err != nil {
		t.Fatalf("StartCoturn() = %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("coturn Close() = %v", err)
		}
	})
	return c
}

// bothServers are the servers the same tests run against: the project's
// (loopback peers allowed, as coturn's --allow-loopback-peers) and coturn.
var bothServers = []struct {
	name  string
	start func(t *testing.T) net.Addr
}{
	{name: "sprechzimmer", start: func(t *testing.T) net.Addr {
		return startOwn(t, turn.NewPeerPolicy([]netip.Prefix{loopback}, nil)).UDPAddr()
	}},
	{name: "coturn", start: func(t *testing.T) net.Addr { return startCoturn(t) }},
}

// turnCode returns the TURN error code in err, 0 when there is none.
func turnCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// udpPeer is a UDP socket on loopback that plays the remote peer.
func udpPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// assertRelays sends a datagram through the relay to a peer and the peer's
// answer back, as a browser's media would flow.
// assertAllocation allocates on the server at addr with cred: a relay
// that relays when wantCode is 0, else a refusal with that error code.
func assertAllocation(t *testing.T, addr net.Addr, cred turncred.Credential, wantCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	alloc, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
	if wantCode != 0 {
		if err == nil {
			alloc.Close()
			t.Fatalf("allocation granted over %s, want it refused with %d", addr.Network(), wantCode)
		}
		if got := turnCode(err); got != wantCode {
			t.Fatalf("Allocate() over %s = %v (code %d), want code %d", addr.Network(), err, got, wantCode)
		}
		return
	}
	if err != nil {
		t.Fatalf("Allocate() over %s = %v, want a relay allocation", addr.Network(), err)
	}
	defer alloc.Close()
	assertRelays(t, alloc)
}

func assertRelays(t *testing.T, alloc *turntest.Allocation) {
	t.Helper()
	peer := udpPeer(t)
	deadline := time.Now().Add(5 * time.Second)
	_ = peer.SetReadDeadline(deadline)
	_ = alloc.Relay.SetReadDeadline(deadline)

	if _, err := alloc.Relay.WriteTo([]byte("hello peer"), peer.LocalAddr()); err != nil {
		t.Fatalf("relay WriteTo() = %v", err)
	}
	buf := make([]byte, 1500)
	n, from, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("peer got nothing through the relay: %v", err)
	}
	if got := string(buf[:n]); got != "hello peer" {
		t.Fatalf("peer got %q, want %q", got, "hello peer")
	}
	if from.String() != alloc.Relay.LocalAddr().String() {
		t.Fatalf("peer got data from %v, want the relay address %v", from, alloc.Relay.LocalAddr())
	}
	if _, err := peer.WriteToUDP([]byte("hello client"), from); err != nil {
		t.Fatal(err)
	}
	n, _, err = alloc.Relay.ReadFrom(buf)
	if err != nil {
		t.Fatalf("client got no answer through the relay: %v", err)
	}
	if got := string(buf[:n]); got != "hello client" {
		t.Fatalf("client got %q, want %q", got, "hello client")
	}
}

// TestCredentials runs the same table against the project's TURN server
// and coturn: credentials minted by turncred get a working relay, anything
// else is refused with 401.
func TestCredentials(t *testing.T) {
	secret := []byte(testSecret)
	now := time.Now()
	valid := turncred.Mint(secret, "room-a", now.Add(time.Hour))
	tests := []struct {
		name     string
		cred     turncred.Credential
		wantCode int // 0: allocation granted
	}{
		{name: "minted, valid for an hour", cred: valid},
		{name: "expired a minute ago", cred: turncred.Mint(secret, "room-a", now.Add(-time.Minute)), wantCode: 401},
		{name: "forged with another secret", cred: turncred.Mint([]byte("guessed-secret"), "room-a", now.Add(time.Hour)), wantCode: 401},
		{name: "expiry extended without re-minting", cred: turncred.Credential{
			Username: turncred.Mint(secret, "room-a", now.Add(48*time.Hour)).Username, Password: valid.Password,
		}, wantCode: 401},
		{name: "no expiry in the username", cred: turncred.Credential{
			Username: "room-a", Password: turncred.Password(secret, "room-a"),
		}, wantCode: 401},
	}
	for _, srv := range bothServers {
		t.Run(srv.name, func(t *testing.T) {
			addr := srv.start(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { assertAllocation(t, addr, tt.cred, tt.wantCode) })
			}
		})
	}
}

// TestRelayToRelay is the call where both browsers need TURN and use the
// same server: each side's peer is the other side's relay address.
func TestRelayToRelay(t *testing.T) {
	for _, srv := range bothServers {
		t.Run(srv.name, func(t *testing.T) {
			addr := srv.start(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var allocs [2]*turntest.Allocation
			for i, role := range []string{"therapist", "client"} {
				cred := turncred.Mint([]byte(testSecret), "room-c-"+role, time.Now().Add(time.Hour))
				a, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
				if err != nil {
					t.Fatalf("Allocate(%s) = %v", role, err)
				}
				defer a.Close()
				allocs[i] = a
			}
			a, b := allocs[0], allocs[1]
			// Like ICE, both sides open a permission for the other before
			// media flows.
			if err := a.CreatePermission(b.Relay.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			if err := b.CreatePermission(a.Relay.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			_ = b.Relay.SetReadDeadline(deadline)
			if _, err := a.Relay.WriteTo([]byte("frame"), b.Relay.LocalAddr()); err != nil {
				t.Fatalf("WriteTo() = %v", err)
			}
			buf := make([]byte, 1500)
			n, from, err := b.Relay.ReadFrom(buf)
			if err != nil {
				t.Fatalf("the other side got nothing: %v", err)
			}
			if string(buf[:n]) != "frame" || from.String() != a.Relay.LocalAddr().String() {
				t.Fatalf("got %q from %v, want %q from %v", buf[:n], from, "frame", a.Relay.LocalAddr())
			}
		})
	}
}

// TestPeerPolicyOnTheWire checks that the project's server answers 403 to
// permissions for peers in denied ranges, loopback included unless allowed.
func TestPeerPolicyOnTheWire(t *testing.T) {
	cluster := netip.MustParsePrefix("127.0.0.2/32") // stands in for a cluster CIDR
	policies := []struct {
		name   string
		policy *turn.PeerPolicy
		peers  map[string]int // peer IP -> wanted code (0: granted)
	}{
		{name: "defaults", policy: turn.NewPeerPolicy(nil, nil), peers: map[string]int{
			"127.0.0.1":       403,
			"10.1.2.3":        403,
			"172.16.0.1":      403,
			"192.168.1.1":     403,
			"100.64.0.1":      403,
			"169.254.169.254": 403,
			"0.0.0.0":         403,
			"224.0.0.1":       403,
			"8.8.8.8":         0,
		}},
		{name: "loopback allowed, a cluster range denied", policy: turn.NewPeerPolicy([]netip.Prefix{loopback}, []netip.Prefix{cluster}), peers: map[string]int{
			"127.0.0.1": 0,
			"127.0.0.2": 403,
			"10.1.2.3":  403,
		}},
	}
	cred := turncred.Mint([]byte(testSecret), "room-b", time.Now().Add(time.Hour))
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			srv := startOwn(t, p.policy)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			alloc, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
			if err != nil {
				t.Fatalf("Allocate() = %v", err)
			}
			defer alloc.Close()
			for ip, want := range p.peers {
				err := alloc.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 4000})
				if got := turnCode(err); got != want || (want == 0 && err != nil) {
					t.Errorf("CreatePermission(%s) = %v (code %d), want code %d", ip, err, got, want)
				}
			}
			if p.name == "defaults" {
				// Sending through the relay needs a permission, so the
				// data never reaches a loopback peer.
				peer := udpPeer(t)
				if _, err := alloc.Relay.WriteTo([]byte("into the cluster"), peer.LocalAddr()); turnCode(err) != 403 {
					t.Errorf("relay WriteTo(loopback peer) = %v, want a 403 refusal", err)
				}
			}
		})
	}
}

// TestMetricsAndLogs checks what an operator sees after traffic and refusals:
// counters with bounded labels, and a log without usernames, passwords or
// addresses.
func TestMetricsAndLogs(t *testing.T) {
	srv := startOwn(t, turn.NewPeerPolicy([]netip.Prefix{loopback}, nil))
	secret := []byte(testSecret)
	now := time.Now()
	good := turncred.Mint(secret, "room-metrics", now.Add(time.Hour))
	expired := turncred.Mint(secret, "room-metrics", now.Add(-time.Hour))
	forged := turncred.Mint([]byte("other"), "room-metrics", now.Add(time.Hour))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, c := range []turncred.Credential{expired, forged} {
		if alloc, err := turntest.Allocate(ctx, srv.UDPAddr(), c.Username, c.Password); err == nil {
			alloc.Close()
			t.Fatal("bad credential got an allocation")
		}
	}
	alloc, err := turntest.Allocate(ctx, srv.UDPAddr(), good.Username, good.Password)
	if err != nil {
		t.Fatalf("Allocate() = %v", err)
	}
	assertRelays(t, alloc)
	if err := alloc.CreatePermission(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}); turnCode(err) != 403 {
		t.Fatalf("CreatePermission(10.0.0.1) = %v, want 403", err)
	}

	want := []struct {
		name, label, value string
		min                float64
	}{
		{name: "sprechzimmer_turn_allocations_total", min: 1},
		{name: "sprechzimmer_turn_allocations_active", min: 1},
		{name: "sprechzimmer_turn_auth_failures_total", label: "reason", value: turn.ReasonExpired, min: 1},
		{name: "sprechzimmer_turn_auth_failures_total", label: "reason", value: turn.ReasonBadCredential, min: 1},
		{name: "sprechzimmer_turn_relayed_bytes_total", label: "direction", value: turn.DirectionToPeer, min: float64(len("hello peer"))},
		{name: "sprechzimmer_turn_relayed_bytes_total", label: "direction", value: turn.DirectionFromPeer, min: float64(len("hello client"))},
		{name: "sprechzimmer_turn_peer_refusals_total", min: 1},
	}
	families, err := srv.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		got, found := 0.0, false
		for _, f := range families {
			if f.GetName() != w.name {
				continue
			}
			for _, m := range f.GetMetric() {
				if w.label != "" && !hasLabel(m.GetLabel(), w.label, w.value) {
					continue
				}
				found = true
				got += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		if !found || got < w.min {
			t.Errorf("%s{%s=%q} = %v (found %v), want >= %v", w.name, w.label, w.value, got, found, w.min)
		}
	}

	alloc.Close()
	shutdownCtx, cancelShutdown := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if shutdownCtx.Err() != nil {
		t.Errorf("Shutdown waited for its deadline although the only allocation was deleted")
	}

	log := srv.log.String()
	for _, secretText := range []string{good.Username, good.Password, expired.Username, forged.Password, "room-metrics", "127.0.0.1", testSecret} {
		if strings.Contains(log, secretText) {
			t.Errorf("log contains %q:\n%s", secretText, log)
		}
	}
}

func hasLabel(labels []*dto.LabelPair, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestCoturnDocumentedDenyList starts coturn with the denied-peer-ip lines
// that docs/turn.md tells operators to use and checks that coturn refuses
// private peers with them (coturn 4.6 ignores CIDR values silently, so a
// wrong line would deny nothing).
func TestCoturnDocumentedDenyList(t *testing.T) {
	doc, err := os.ReadFile("../docs/turn.md")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for line := range strings.SplitSeq(string(doc), "\n") {
		if strings.HasPrefix(line, "denied-peer-ip=") {
			args = append(args, "--"+strings.TrimSpace(line))
		}
	}
	if len(args) < 10 {
		t.Fatalf("found %d denied-peer-ip lines in docs/turn.md, want the whole list", len(args))
	}
	addr := startCoturn(t, args...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	cred := turncred.Mint([]byte(testSecret), "room-d", time.Now().Add(time.Hour))
	alloc, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() = %v", err)
	}
	defer alloc.Close()
	peers := map[string]int{
		"127.0.0.1": 403, "10.1.2.3": 403, "172.16.0.1": 403, "192.168.1.1": 403,
		"100.64.0.1": 403, "169.254.169.254": 403, "0.0.0.1": 403, "0.0.0.0": 403, "8.8.8.8": 0,
	}
	for ip, want := range peers {
		err := alloc.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 4000})
		if got := turnCode(err); got != want || (want == 0 && err != nil) {
			t.Errorf("coturn CreatePermission(%s) = %v (code %d), want code %d", ip, err, got, want)
		}
	}
}

// TestOwnServerTransports checks the project's server over each way a
// browser can reach it: UDP on one socket, UDP spread over several
// SO_REUSEPORT sockets, and TCP.
func TestOwnServerTransports(t *testing.T) {
	tests := []struct {
		name    string
		sockets int
		tcp     bool
	}{
		{name: "udp, one socket", sockets: 1},
		{name: "udp, four sockets", sockets: 4},
		{name: "tcp", sockets: 1, tcp: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startLoopback(t, turn.Config{UDPSockets: tt.sockets})
			addr := srv.UDPAddr()
			if tt.tcp {
				addr = srv.TCPAddr()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			// Several clients, so that four sockets see traffic.
			for i := range 4 {
				cred := turncred.Mint([]byte(testSecret), "room-e", time.Now().Add(time.Hour))
				alloc, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
				if err != nil {
					t.Fatalf("client %d: Allocate() = %v", i, err)
				}
				assertRelays(t, alloc)
				alloc.Close()
			}
		})
	}
}

// TestDrain checks a rolling update: once draining, new clients are sent
// away with 486 while the call already relayed goes on, and Shutdown
// returns as soon as that call ends.
func TestDrain(t *testing.T) {
	srv := startOwn(t, turn.NewPeerPolicy([]netip.Prefix{loopback}, nil))
	cred := turncred.Mint([]byte(testSecret), "room-f", time.Now().Add(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	running, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
	if err != nil {
		t.Fatalf("Allocate() = %v", err)
	}

	srv.Drain()
	late, err := turntest.Allocate(ctx, srv.UDPAddr(), cred.Username, cred.Password)
	if err == nil {
		late.Close()
		t.Fatal("a draining server granted a new allocation")
	}
	if got := turnCode(err); got != 486 {
		t.Fatalf("Allocate() while draining = %v (code %d), want 486", err, got)
	}
	assertRelays(t, running)

	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	running.Close() // the call ends: the client deletes its allocation
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown() = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Shutdown() did not return after the last allocation was deleted")
	}
	if ctx.Err() != nil {
		t.Fatal("Shutdown() returned only at its deadline")
	}
}

// TestNewRefusesIncompleteConfig checks that a server without what it needs
// to check credentials or hand out relay addresses does not start.
func TestNewRefusesIncompleteConfig(t *testing.T) {
	valid := turn.Config{
		Realm: testRealm, Secret: []byte(testSecret), UDPAddress: "127.0.0.1:0",
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
	}
	tests := []struct {
		name   string
		change func(c *turn.Config)
	}{
		{name: "no secret", change: func(c *turn.Config) { c.Secret = nil }},
		{name: "no realm", change: func(c *turn.Config) { c.Realm = "" }},
		{name: "no relay IP", change: func(c *turn.Config) { c.RelayIP = nil }},
		{name: "port range without a start", change: func(c *turn.Config) { c.MaxPort = 50000 }},
		{name: "port range upside down", change: func(c *turn.Config) { c.MinPort, c.MaxPort = 50010, 50000 }},
		{name: "unusable UDP address", change: func(c *turn.Config) { c.UDPAddress = "127.0.0.1:99999" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			srv, err := turn.New(cfg)
			if err == nil {
				_ = srv.Close()
				t.Fatal("turn.New() = nil error, want a refusal")
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("turn.New() error shows the secret: %v", err)
			}
		})
	}
	// The same registry twice would mean two servers' metrics mixed up.
	reg := prometheus.NewRegistry()
	cfg := valid
	cfg.Registerer = reg
	first, err := turn.New(cfg)
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	defer func() { _ = first.Close() }()
	if second, err := turn.New(cfg); err == nil {
		_ = second.Close()
		t.Fatal("a second server registered the same metrics")
	}
}

// TestQuotaPerCredential checks that one room's credential cannot open
// more than MaxAllocationsPerUser relays, while other rooms are not held up.
func TestQuotaPerCredential(t *testing.T) {
	srv, err := turn.New(turn.Config{
		Realm: testRealm, Secret: []byte(testSecret), UDPAddress: "127.0.0.1:0",
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1", MaxAllocationsPerUser: 2,
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	roomA := turncred.Mint([]byte(testSecret), "room-a", time.Now().Add(time.Hour))
	roomB := turncred.Mint([]byte(testSecret), "room-b", time.Now().Add(time.Hour))

	steps := []struct {
		name     string
		cred     turncred.Credential
		wantCode int
	}{
		{name: "room A, first browser", cred: roomA},
		{name: "room A, second browser", cred: roomA},
		{name: "room A, one too many", cred: roomA, wantCode: 486},
		{name: "room B is not held up", cred: roomB},
	}
	for _, st := range steps {
		alloc, err := turntest.Allocate(ctx, srv.UDPAddr(), st.cred.Username, st.cred.Password)
		if got := turnCode(err); got != st.wantCode || (st.wantCode == 0 && err != nil) {
			t.Fatalf("%s: Allocate() = %v (code %d), want code %d", st.name, err, got, st.wantCode)
		}
		if err == nil {
			defer alloc.Close()
		}
	}
}

// TestNoTCPRelays checks that TCP relay allocations (RFC 6062), which
// browsers never ask for, are refused rather than opening TCP connections
// from the server to arbitrary peers.
func TestNoTCPRelays(t *testing.T) {
	srv, err := turn.New(turn.Config{
		Realm: testRealm, Secret: []byte(testSecret), UDPAddress: "127.0.0.1:0", TCPAddress: "127.0.0.1:0",
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
		Peers: turn.NewPeerPolicy([]netip.Prefix{loopback}, nil),
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp4", srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	cred := turncred.Mint([]byte(testSecret), "room-g", time.Now().Add(time.Hour))
	client, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: srv.TCPAddr().String(), Username: cred.Username, Password: cred.Password,
		Conn: pionturn.NewSTUNConn(conn),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	alloc, err := client.AllocateTCPWithContext(ctx)
	if err == nil {
		_ = alloc.Close()
		t.Fatal("a TCP relay allocation was granted")
	}
	if got := turnCode(err); got != 508 {
		t.Fatalf("AllocateTCP() = %v (code %d), want 508 Insufficient Capacity", err, got)
	}
	if n := srv.Allocations(); n != 0 {
		t.Fatalf("server holds %d allocations after refusing, want 0", n)
	}
}
