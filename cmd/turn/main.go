// Command turn is Sprechzimmer's TURN server. It relays media for browsers
// that cannot reach each other directly, accepting only the TURN REST
// credentials the operator mints from the shared secret in -secret-file.
//
// Usage:
//
//	turn -realm turn.example.org -public-ip 203.0.113.10 -secret-file /etc/turn/secret
//
// See docs/turn.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
	"github.com/sprechzimmer/sprechzimmer/internal/version"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

type options struct {
	realm        string
	secretFile   string
	previousFile string
	secretCheck  time.Duration
	listenUDP    string
	listenTCP    string
	listenTLS    string
	tlsCertFile  string
	tlsKeyFile   string
	maxTCPConns  int
	maxPerUser   int
	maxPerClient int
	udpSockets   int
	batchSize    int
	publicIP     string
	relayBindIP  string
	minPort      uint
	maxPort      uint
	allowPeers   string
	denyPeers    string
	metricsAddr  string
	drainTimeout time.Duration
	logLevel     string
}

func main() {
	var o options
	flag.StringVar(&o.realm, "realm", "", "TURN realm, e.g. the TURN server's public host name (required)")
	flag.StringVar(&o.secretFile, "secret-file", "", "file holding the shared secret the operator mints credentials with (required); reread when it changes")
	flag.StringVar(&o.previousFile, "previous-secret-file", "", "file holding the previous shared secret, still accepted during a rotation; while it does not exist, none is")
	flag.DurationVar(&o.secretCheck, "secret-check-interval", turnsecret.DefaultInterval, "how often the secret files are read for changes")
	flag.StringVar(&o.listenUDP, "listen-udp", ":3478", "UDP address for TURN clients")
	flag.StringVar(&o.listenTCP, "listen-tcp", ":3478", "TCP address for TURN clients (relaying stays UDP); empty disables TCP")
	flag.StringVar(&o.listenTLS, "listen-tls", "", "TCP address for TURN over TLS (turns: URLs), e.g. :443 for networks that let only HTTPS through; needs -tls-cert-file and -tls-key-file; empty disables TLS")
	flag.StringVar(&o.tlsCertFile, "tls-cert-file", "", "PEM certificate chain of the TLS listener (tls.crt of a mounted Secret), reloaded when it changes")
	flag.StringVar(&o.tlsKeyFile, "tls-key-file", "", "PEM private key of the TLS listener (tls.key of a mounted Secret), reloaded when it changes")
	flag.IntVar(&o.maxPerUser, "max-allocations-per-user", turn.DefaultMaxAllocationsPerUser, "live allocations one credential (one room) may hold")
	flag.IntVar(&o.maxPerClient, "max-allocations-per-client", turn.DefaultMaxAllocationsPerClient, "live allocations one credential may hold from one client IP address, so one link holder cannot take the room's")
	flag.IntVar(&o.maxTCPConns, "max-tcp-conns", turn.DefaultMaxTCPConns, "simultaneous TURN-over-TCP connections at most")
	flag.IntVar(&o.udpSockets, "udp-sockets", 1, "UDP sockets sharing -listen-udp via SO_REUSEPORT, each served by its own goroutine")
	flag.IntVar(&o.batchSize, "batch-size", turn.DefaultBatchSize, "UDP datagrams read or written per recvmmsg/sendmmsg system call; 1 turns batching off and leaves all relaying to pion/turn")
	flag.StringVar(&o.publicIP, "public-ip", "", "IP address put into relay candidates, reachable by browsers (required)")
	flag.StringVar(&o.relayBindIP, "relay-bind-ip", "0.0.0.0", "local IP address relay sockets are bound to")
	flag.UintVar(&o.minPort, "min-port", 49152, "lowest relay port")
	flag.UintVar(&o.maxPort, "max-port", 65535, "highest relay port")
	flag.StringVar(&o.allowPeers, "allow-peers", "", "comma-separated CIDRs to relay to although they are in a denied range; the host's own addresses stay limited to the relay ports")
	flag.StringVar(&o.denyPeers, "deny-peers", "", "comma-separated CIDRs never to relay to besides the defaults: the cluster's Pod, Service and node CIDRs")
	flag.StringVar(&o.metricsAddr, "metrics-addr", ":9090", "address of the /metrics, /healthz and /readyz listener; empty disables it")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 20*time.Second, "how long SIGTERM waits for allocations to end before closing")
	flag.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	version.AddFlag(flag.CommandLine, "turn")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "turn: -log-level: %v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("turn server failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	cfg, err := o.config(log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := cfg.Secrets.Register(reg, "sprechzimmer_turn"); err != nil {
		return err
	}
	go cfg.Secrets.Watch(ctx, o.secretCheck)
	cfg.Registerer = reg
	cfg.Logger = log

	var metricsLn net.Listener
	if o.metricsAddr != "" {
		var lc net.ListenConfig
		if metricsLn, err = lc.Listen(ctx, "tcp", o.metricsAddr); err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
	}
	srv, err := turn.New(cfg)
	if err != nil {
		if metricsLn != nil {
			_ = metricsLn.Close()
		}
		return err
	}

	var httpSrv *http.Server
	httpErr := make(chan error, 1)
	if metricsLn != nil {
		httpSrv = &http.Server{Handler: opsHandler(reg, srv), ReadHeaderTimeout: 5 * time.Second}
		go func() { httpErr <- httpSrv.Serve(metricsLn) }()
	}
	// Ports only: log lines carry no IP addresses, not even the server's.
	log.Info("turn server listening", "udp_port", port(srv.UDPAddr()), "tcp_port", port(srv.TCPAddr()), "tls_port", port(srv.TLSAddr()),
		"metrics_port", port(addrOf(metricsLn)), "realm", cfg.Realm,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.MinPort, cfg.MaxPort))

	select {
	case <-ctx.Done():
	case err := <-httpErr:
		_ = srv.Close()
		return fmt.Errorf("metrics listener: %w", err)
	}

	log.Info("draining: refusing new allocations", "allocations", srv.Allocations(), "timeout", o.drainTimeout.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
	defer cancel()
	err = srv.Shutdown(drainCtx)
	if httpSrv != nil {
		_ = httpSrv.Shutdown(drainCtx)
	}
	log.Info("turn server stopped")
	return err
}

// addrOf is ln's address, nil without a listener.
func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// port returns a's port, 0 for nil.
func port(a net.Addr) int {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.Port
	case *net.TCPAddr:
		return a.Port
	default:
		return 0
	}
}

// opsHandler serves /metrics, /healthz (the process runs) and /readyz (it
// is not draining).
func opsHandler(reg *prometheus.Registry, srv *turn.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if srv.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// config checks the flags and reads the secrets; the store logs to log.
func (o options) config(log *slog.Logger) (turn.Config, error) {
	var cfg turn.Config
	if o.realm == "" {
		return cfg, errors.New("-realm is required")
	}
	if o.secretFile == "" {
		return cfg, errors.New("-secret-file is required")
	}
	publicIP := net.ParseIP(o.publicIP)
	if publicIP == nil {
		return cfg, fmt.Errorf("-public-ip %q is not an IP address", o.publicIP)
	}
	if o.minPort == 0 || o.maxPort > 65535 || o.minPort > o.maxPort {
		return cfg, fmt.Errorf("relay port range %d-%d is invalid", o.minPort, o.maxPort)
	}
	if o.batchSize < 1 {
		return cfg, fmt.Errorf("-batch-size %d is below 1 (1 turns batching off)", o.batchSize)
	}
	tlsSet := []bool{o.listenTLS != "", o.tlsCertFile != "", o.tlsKeyFile != ""}
	if slices.Contains(tlsSet, true) && slices.Contains(tlsSet, false) {
		return cfg, errors.New("-listen-tls, -tls-cert-file and -tls-key-file go together: set all three or none")
	}
	allow, err := turn.ParsePrefixes(o.allowPeers)
	if err != nil {
		return cfg, fmt.Errorf("-allow-peers: %w", err)
	}
	deny, err := turn.ParsePrefixes(o.denyPeers)
	if err != nil {
		return cfg, fmt.Errorf("-deny-peers: %w", err)
	}
	secrets, err := turnsecret.Open(turnsecret.Files{Current: o.secretFile, Previous: o.previousFile}, turnsecret.Options{Logger: log})
	if err != nil {
		return cfg, fmt.Errorf("-secret-file, -previous-secret-file: %w", err)
	}
	return turn.Config{
		Realm:                   o.realm,
		Secrets:                 secrets,
		UDPAddress:              o.listenUDP,
		UDPSockets:              o.udpSockets,
		BatchSize:               o.batchSize,
		TCPAddress:              o.listenTCP,
		TLSAddress:              o.listenTLS,
		TLSCertFile:             o.tlsCertFile,
		TLSKeyFile:              o.tlsKeyFile,
		MaxTCPConns:             o.maxTCPConns,
		MaxAllocationsPerUser:   o.maxPerUser,
		MaxAllocationsPerClient: o.maxPerClient,
		RelayIP:                 publicIP,
		RelayBindIP:             o.relayBindIP,
		MinPort:                 uint16(o.minPort),
		MaxPort:                 uint16(o.maxPort),
		Peers:                   turn.NewPeerPolicy(allow, deny),
	}, nil
}
