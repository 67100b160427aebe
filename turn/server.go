// Package turn is Sprechzimmer's TURN server: a pion/turn server that
// accepts exactly the TURN REST credentials the operator mints with
// internal/turncred under a shared secret, relays only UDP, refuses peers in
// private, loopback, link-local, CGNAT and configured (cluster) ranges,
// reaches its own host only on its relay ports, stops relaying when a
// credential expires, and exports Prometheus metrics with bounded labels.
// It logs no usernames, credentials or addresses.
package turn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5/reuseport"
	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// Config configures a Server.
type Config struct {
	// Realm is the TURN realm, for example the public host name.
	Realm string
	// Secret is the shared secret the operator mints credentials with,
	// when it never changes; Secrets replaces it.
	Secret []byte
	// Secrets, when set, holds the current and the previous shared secret
	// and may change while the server runs (a rotation); credentials minted
	// under either are accepted.
	Secrets *turnsecret.Store
	// UDPAddress is the UDP address clients reach the server on, for
	// example "0.0.0.0:3478"; port 0 picks a free port.
	UDPAddress string
	// UDPSockets is how many UDP sockets share UDPAddress through
	// SO_REUSEPORT, each read by its own goroutine; 0 means 1.
	UDPSockets int
	// TCPAddress, when set, is a TCP address clients may reach the server
	// on too (TURN over TCP, relaying still UDP).
	TCPAddress string
	// TLSAddress, when set, is a TCP address clients may reach the server
	// on over TLS (TURN over TLS, turns: URLs, usually port 443 for
	// networks that let only HTTPS through; relaying still UDP). It needs
	// TLSCertFile and TLSKeyFile.
	TLSAddress string
	// TLSCertFile and TLSKeyFile are the PEM files of the TLS listener's
	// certificate chain and key (tls.crt and tls.key of a mounted
	// kubernetes.io/tls Secret). They are reloaded when they change: a
	// renewed certificate is served to new connections without a restart.
	TLSCertFile, TLSKeyFile string
	// MaxTCPConns limits simultaneous TURN-over-TCP connections, and
	// separately TURN-over-TLS connections; 0 means DefaultMaxTCPConns.
	MaxTCPConns int
	// MaxAllocationsPerUser limits the live allocations of one credential
	// (one room); 0 means DefaultMaxAllocationsPerUser.
	MaxAllocationsPerUser int
	// MaxAllocationsPerClient limits the live allocations of one
	// credential from one client IP address, so that one link holder
	// cannot use up the room's MaxAllocationsPerUser; 0 means
	// DefaultMaxAllocationsPerClient (at most MaxAllocationsPerUser).
	MaxAllocationsPerClient int
	// RelayIP is the address put into relay candidates: the public IP.
	RelayIP net.IP
	// RelayBindIP is the local address relay sockets are bound to
	// ("0.0.0.0" when empty).
	RelayBindIP string
	// MinPort and MaxPort bound the relay ports; both 0 means ephemeral ports.
	MinPort, MaxPort uint16
	// BatchSize is how many datagrams one system call (recvmmsg,
	// sendmmsg) reads or writes at most on the client-facing UDP sockets
	// and writes on relay sockets, which read up to 8. 0 means
	// DefaultBatchSize. 1 reads and writes one datagram per system call
	// and leaves all relaying to pion/turn's own path (ChannelData too,
	// and one write per frame over TCP and TLS): the server as it was
	// before batching, for comparison.
	BatchSize int
	// SocketBuffer is the receive and send buffer size asked for on the
	// client-facing UDP sockets, which carry every call's traffic; the
	// kernel caps it at net.core.rmem_max and wmem_max. 0 means
	// DefaultSocketBuffer; relay sockets get a quarter of it.
	SocketBuffer int
	// Peers decides which peers may be relayed to; nil means
	// NewPeerPolicy(nil, nil), the defaults. Whatever it allows, the
	// server's own addresses (loopback, the unspecified addresses, every
	// interface address, RelayIP, RelayBindIP and the UDP and TCP listen
	// addresses) are reached only on the ports of live relay allocations.
	Peers *PeerPolicy
	// UnsafeHostPeers lets relays reach the server's own addresses on
	// every port Peers allows, not only on relay ports. Only for tests and
	// benchmarks that play peers on loopback; never in production, where
	// it opens every UDP service of the host to any credential holder.
	UnsafeHostPeers bool
	// Registerer receives the metrics; nil means a private registry.
	Registerer prometheus.Registerer
	// Logger receives the server's log; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock credentials are checked against; nil means time.Now.
	Now func() time.Time
	// AllocationLifetime is the lifetime granted to allocations whose
	// client asks for none; clients refresh them before it ends, with an
	// authenticated request. 0 means pion's default, 10 minutes; tests set
	// seconds, to see refreshes.
	AllocationLifetime time.Duration
}

// DefaultSocketBuffer is the default Config.SocketBuffer: 4 MiB, room for
// about 2000 full-size datagrams when a burst meets a busy goroutine.
const DefaultSocketBuffer = 4 << 20

// Server is a running TURN server.
type Server struct {
	pion     *pionturn.Server
	udpAddr  net.Addr
	tcpAddr  net.Addr
	tlsAddr  net.Addr
	log      *slog.Logger
	draining atomic.Bool
	deleted  chan struct{}
}

// withDefaults checks c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	switch {
	case len(c.Secret) == 0 && c.Secrets == nil:
		return c, errEmptySecret
	case c.Realm == "":
		return c, errors.New("turn realm is not set")
	case c.RelayIP == nil:
		return c, errors.New("turn relay IP is not set")
	case (c.MinPort != 0 || c.MaxPort != 0) && (c.MinPort == 0 || c.MaxPort < c.MinPort):
		return c, fmt.Errorf("turn relay port range %d-%d is invalid", c.MinPort, c.MaxPort)
	case c.TLSAddress != "" && (c.TLSCertFile == "" || c.TLSKeyFile == ""):
		return c, errors.New("turn tls listener needs TLSCertFile and TLSKeyFile")
	}
	c.Secret = bytes.Clone(c.Secret)
	if c.Peers == nil {
		c.Peers = NewPeerPolicy(nil, nil)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RelayBindIP == "" {
		c.RelayBindIP = "0.0.0.0"
	}
	if c.UDPSockets <= 0 {
		c.UDPSockets = 1
	}
	if c.MaxAllocationsPerUser <= 0 {
		c.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if c.MaxAllocationsPerClient <= 0 {
		c.MaxAllocationsPerClient = DefaultMaxAllocationsPerClient
	}
	c.MaxAllocationsPerClient = min(c.MaxAllocationsPerClient, c.MaxAllocationsPerUser)
	if c.MaxTCPConns <= 0 {
		c.MaxTCPConns = DefaultMaxTCPConns
	}
	if c.SocketBuffer <= 0 {
		c.SocketBuffer = DefaultSocketBuffer
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	return c, nil
}

// ownIPs are the addresses of this host that c names: the relay address,
// the relay bind address and the listen addresses. Unspecified and
// unparsable ones are left out (newSelfGuard adds the interfaces).
func (c Config) ownIPs() []net.IP {
	ips := []net.IP{c.RelayIP, net.ParseIP(c.RelayBindIP)}
	for _, a := range []string{c.UDPAddress, c.TCPAddress, c.TLSAddress} {
		if host, _, err := net.SplitHostPort(a); err == nil {
			ips = append(ips, net.ParseIP(host))
		}
	}
	out := ips[:0]
	for _, ip := range ips {
		if ip != nil && !ip.IsUnspecified() {
			out = append(out, ip)
		}
	}
	return out
}

// relayIPs are the addresses relay sockets can be reached on: nil (all of
// the host's) when they are bound to the unspecified address, else the bind
// address and RelayIP.
func (c Config) relayIPs() []net.IP {
	bind := net.ParseIP(c.RelayBindIP)
	if bind == nil || bind.IsUnspecified() {
		return nil
	}
	return []net.IP{bind, c.RelayIP}
}

// New opens the listeners and starts serving.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{log: cfg.Logger, deleted: make(chan struct{}, 1)}
	m := newMetrics()

	var inner pionturn.RelayAddressGenerator = &pionturn.RelayAddressGeneratorStatic{
		RelayAddress: cfg.RelayIP, Address: cfg.RelayBindIP,
	}
	if cfg.MinPort != 0 {
		inner = &pionturn.RelayAddressGeneratorPortRange{
			RelayAddress: cfg.RelayIP, Address: cfg.RelayBindIP,
			MinPort: cfg.MinPort, MaxPort: cfg.MaxPort,
		}
	}
	self := &selfGuard{ports: map[uint16]int{}} // a nil own map: allows all
	if !cfg.UnsafeHostPeers {
		if self, err = newSelfGuard(cfg.relayIPs(), cfg.ownIPs()...); err != nil {
			return nil, err
		}
	}
	// One generator per listener, so that relay sockets count their bytes
	// by the listener their client came in on. All sockets share one
	// batching group: reads on any of them batch the writes they cause.
	group := &udpbatch.Group{}
	rts := newRoutes()
	genFor := func(listener string) *relayGenerator {
		return &relayGenerator{
			inner: inner, policy: cfg.Peers, self: self, now: cfg.Now, metrics: m.forListener(listener), buffer: cfg.SocketBuffer / 4,
			group: group, batch: cfg.BatchSize, routes: rts,
		}
	}
	permit := func(_ net.Addr, peer net.IP) bool {
		if cfg.Peers.AllowedIP(peer) {
			return true
		}
		m.peersRefused.Inc()
		return false
	}

	conns, err := listenUDP(cfg.UDPAddress, cfg.UDPSockets)
	if err != nil {
		return nil, err
	}
	for i, c := range conns {
		setBuffers(c, cfg.SocketBuffer)
		conns[i] = batched(c, group, cfg.BatchSize, cfg.BatchSize)
		if b, ok := conns[i].(*udpbatch.Conn); ok {
			b.SetIntercept(rts.fromUDPClient)
		}
	}
	s.udpAddr = conns[0].LocalAddr()
	pcs := make([]pionturn.PacketConnConfig, len(conns))
	udpGen := genFor(ListenerUDP)
	for i, c := range conns {
		pcs[i] = pionturn.PacketConnConfig{PacketConn: c, RelayAddressGenerator: udpGen, PermissionHandler: permit}
	}
	var lcs []pionturn.ListenerConfig
	closeListeners := func() {
		for _, l := range lcs {
			_ = l.Listener.Close()
		}
	}
	if cfg.TCPAddress != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", cfg.TCPAddress)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("listen turn tcp: %w", err)
		}
		s.tcpAddr = ln.Addr()
		lcs = append(lcs, pionturn.ListenerConfig{
			Listener:              cfg.streams(guardListener(ln, cfg.MaxTCPConns), rts, group, m.streamDrops.WithLabelValues(ListenerTCP)),
			RelayAddressGenerator: genFor(ListenerTCP), PermissionHandler: permit,
		})
	}
	if cfg.TLSAddress != "" {
		certs, err := NewCertFiles(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.Logger)
		var ln net.Listener
		if err == nil {
			ln, err = listenTLS(cfg.TLSAddress, cfg.MaxTCPConns, certs)
		}
		if err != nil {
			closeAll(conns)
			closeListeners()
			return nil, err
		}
		s.tlsAddr = ln.Addr()
		lcs = append(lcs, pionturn.ListenerConfig{
			Listener:              cfg.streams(ln, rts, group, m.streamDrops.WithLabelValues(ListenerTLS)),
			RelayAddressGenerator: genFor(ListenerTLS), PermissionHandler: permit,
		})
	}

	fail := func(reason string) { m.authFailures.WithLabelValues(reason).Inc() }
	secrets := newSecretMetrics(cfg)
	users := newAllocationCounter(cfg.MaxAllocationsPerUser)
	clients := newAllocationCounter(cfg.MaxAllocationsPerClient)
	quota := func(user, _ string, src net.Addr) bool {
		switch {
		case s.draining.Load():
			m.allocationRefusals.WithLabelValues(RefusalDraining).Inc()
			return false
		case !users.admit(user):
			m.allocationRefusals.WithLabelValues(RefusalQuota).Inc()
			return false
		case !clients.admit(clientKey(user, src)):
			m.allocationRefusals.WithLabelValues(RefusalClientQuota).Inc()
			return false
		}
		return true
	}
	s.pion, err = pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lcs,
		LoggerFactory:     pionLoggerFactory{log: cfg.Logger},
		Realm:             cfg.Realm,
		AuthHandler:       authHandler(secrets.get, cfg.Realm, cfg.Now, fail),
		QuotaHandler:      quota,
		EventHandler: pionturn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, user, _, _ string, verdict bool) {
				if !verdict {
					fail(ReasonBadCredential)
					return
				}
				secrets.accepted(user)
			},
			OnAllocationCreated: func(src, dst net.Addr, _, user, _ string, relay net.Addr, _ int) {
				rts.allocationCreated(src, dst, relay)
				users.add(user, 1)
				clients.add(clientKey(user, src), 1)
				m.allocationCreated(s.listenerOf(dst))
			},
			OnAllocationDeleted: func(src, dst net.Addr, _, user, _ string) {
				rts.allocationDeleted(src, dst)
				users.add(user, -1)
				clients.add(clientKey(user, src), -1)
				m.allocationDeleted(s.listenerOf(dst))
				select {
				case s.deleted <- struct{}{}:
				default:
				}
			},
			OnChannelCreated: func(src, dst net.Addr, _, _, _ string, _, peer net.Addr, number uint16) {
				rts.channelBound(src, dst, peer, number)
			},
			OnChannelDeleted: func(src, dst net.Addr, _, _, _ string, _, _ net.Addr, number uint16) {
				rts.channelUnbound(src, dst, number)
			},
		},
		AllocationLifetime: cfg.AllocationLifetime,
	})
	if err != nil {
		closeAll(conns)
		closeListeners()
		return nil, fmt.Errorf("start turn server: %w", err)
	}
	if err := errors.Join(m.register(cfg.Registerer), secrets.register(cfg.Registerer)); err != nil {
		_ = s.pion.Close()
		return nil, err
	}
	return s, nil
}

// streams wraps a TCP or TLS listener's connections in streamConns, with
// batching on; with BatchSize 1 pion reads and writes them itself.
func (c Config) streams(ln net.Listener, rts *routes, group *udpbatch.Group, drops prometheus.Counter) net.Listener {
	if c.BatchSize == 1 {
		return ln
	}
	return streamListener{Listener: ln, routes: rts, group: group, drops: drops}
}

// listenerOf names the listener of a client connection whose server side
// is local: UDP, or TLS when local is the TLS listener's address (a TCP
// listener cannot share its port), else TCP.
func (s *Server) listenerOf(local net.Addr) string {
	l, ok := local.(*net.TCPAddr)
	if !ok {
		return ListenerUDP
	}
	if t, ok := s.tlsAddr.(*net.TCPAddr); ok && t.Port == l.Port && (t.IP.IsUnspecified() || t.IP.Equal(l.IP)) {
		return ListenerTLS
	}
	return ListenerTCP
}

// listenUDP opens n UDP sockets on address; more than one share the port
// through SO_REUSEPORT, and the kernel spreads clients over them.
func listenUDP(address string, n int) ([]net.PacketConn, error) {
	lc := net.ListenConfig{}
	if n > 1 {
		lc.Control = reuseport.Control
	}
	first, err := lc.ListenPacket(context.Background(), "udp", address)
	if err != nil {
		return nil, fmt.Errorf("listen turn udp: %w", err)
	}
	conns := []net.PacketConn{first}
	for len(conns) < n {
		c, err := lc.ListenPacket(context.Background(), "udp", first.LocalAddr().String())
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("listen turn udp socket %d: %w", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// setBuffers asks for size bytes of socket buffer on a UDP socket; the
// kernel may grant less, which is not an error.
func setBuffers(c net.PacketConn, size int) {
	if u, ok := c.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(size)
		_ = u.SetWriteBuffer(size)
	}
}

func closeAll(conns []net.PacketConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

// UDPAddr is the address the server receives UDP on.
func (s *Server) UDPAddr() net.Addr { return s.udpAddr }

// TCPAddr is the address the server accepts TCP on, nil without one.
func (s *Server) TCPAddr() net.Addr { return s.tcpAddr }

// TLSAddr is the address the server accepts TURN over TLS on, nil without one.
func (s *Server) TLSAddr() net.Addr { return s.tlsAddr }

// Allocations is the number of allocations that exist now.
func (s *Server) Allocations() int { return s.pion.AllocationCount() }

// Draining reports whether Drain or Shutdown has been called.
func (s *Server) Draining() bool { return s.draining.Load() }

// Drain makes the server refuse new allocations with 486 Allocation Quota
// Reached, so that clients try their other ICE servers; existing
// allocations go on.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown drains the server, waits until the existing allocations are
// gone or ctx ends, then closes the server.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	for s.pion.AllocationCount() > 0 {
		select {
		case <-s.deleted:
		case <-ctx.Done():
			s.log.Info("turn server closing with allocations left", "allocations", s.pion.AllocationCount())
			return s.Close()
		}
	}
	return s.Close()
}

// Close stops the server at once, ending every allocation.
func (s *Server) Close() error {
	if err := s.pion.Close(); err != nil {
		return fmt.Errorf("close turn server: %w", err)
	}
	return nil
}
