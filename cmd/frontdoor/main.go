// Command frontdoor is the public entrance to the rooms: it routes
// /r/<room-id>/... to the room's signaling Service (see package
// frontdoor), serves /healthz, /readyz and /metrics on a second listener,
// and shuts down gracefully on SIGTERM.
//
// It logs JSON to stderr: a route name and a status per request with
// --access-log, never a room id, token or client address.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/cliflag"
	"github.com/sprechzimmer/sprechzimmer/internal/version"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// pkg/log rather than the controller-runtime root package, which would
	// link the manager, webhook server and pprof into the front door.
	logf.SetLogger(logr.FromSlogHandler(logger.Handler()))
	version.AddFlag(flag.CommandLine, "frontdoor")
	opts, err := parseFlags(flag.CommandLine, os.Args[1:])
	if err != nil {
		logger.Error("bad flags", "error", err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := config.GetConfig()
	if err != nil {
		logger.Error("no kubernetes client configuration", "error", err.Error())
		os.Exit(1)
	}
	if err := run(ctx, cfg, opts, logger); err != nil {
		logger.Error("front door failed", "error", err.Error())
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	listen, metricsListen    string
	clusterDomain            string
	tlsCert, tlsKey          string
	namespaces               cliflag.List
	accessLog                bool
	shutdownDelay, drainTime time.Duration
	kubeQPS                  float64
	kubeBurst                int
	limits                   frontdoor.Limits
	trustedProxies           cliflag.List

	// dial replaces the resolver (tests).
	dial frontdoor.DialFunc
	// listening is told the bound addresses (tests).
	listening func(addr, metricsAddr string)
}

// parseFlags reads the flags of fs from args (fs also carries
// controller-runtime's --kubeconfig).
func parseFlags(fs *flag.FlagSet, args []string) (*options, error) {
	o := &options{}
	fs.StringVar(&o.listen, "listen", ":8080", "Address the rooms are served on.")
	fs.StringVar(&o.metricsListen, "metrics-listen", ":9090", "Address of /metrics, /healthz and /readyz; keep it off the public network.")
	fs.StringVar(&o.clusterDomain, "cluster-domain", frontdoor.DefaultClusterDomain, "DNS domain of the cluster's Services.")
	fs.StringVar(&o.tlsCert, "tls-cert-file", "", "Certificate (PEM) to serve HTTPS with; without it, plain HTTP behind an Ingress.")
	fs.StringVar(&o.tlsKey, "tls-key-file", "", "Private key (PEM) of --tls-cert-file.")
	fs.Var(&o.namespaces, "namespace", "Watch only these namespaces for rooms (repeatable, comma-separated; default all).")
	fs.BoolVar(&o.accessLog, "access-log", false, "Log every request: route name and status, nothing else.")
	fs.DurationVar(&o.shutdownDelay, "shutdown-delay", 5*time.Second, "After SIGTERM, how long /readyz fails while requests are still served, so that load balancers stop sending new ones.")
	fs.DurationVar(&o.drainTime, "drain-timeout", 15*time.Second, "How long requests in flight may take to finish before the WebSockets are closed (browsers reconnect to another replica).")
	fs.Float64Var(&o.kubeQPS, "kube-api-qps", 20, "Queries per second to the API server.")
	fs.IntVar(&o.kubeBurst, "kube-api-burst", 40, "Burst of queries to the API server.")
	fs.IntVar(&o.limits.RequestsPerSource, "max-requests-per-source", frontdoor.DefaultMaxRequestsPerSource, "Requests one source address (an IPv6 /64) may have in flight, open WebSockets included; -1: no limit.")
	fs.IntVar(&o.limits.WebSocketsPerSource, "max-websockets-per-source", frontdoor.DefaultMaxWebSocketsPerSource, "WebSockets one source address may have open; -1: no limit.")
	fs.IntVar(&o.limits.RequestsPerRoom, "max-requests-per-room", frontdoor.DefaultMaxRequestsPerRoom, "Requests one room may have in flight, open WebSockets included; -1: no limit.")
	fs.Var(&o.trustedProxies, "trusted-proxy", "CIDRs of proxies (the Ingress controller's Pods) whose X-Forwarded-For names the source for the per-source limits (repeatable, comma-separated; default none: the direct peer is the source).")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, c := range o.trustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: not a CIDR", c)
		}
		o.limits.TrustedProxies = append(o.limits.TrustedProxies, p.Masked())
	}
	for _, l := range []struct {
		flag string
		v    int
	}{
		{"--max-requests-per-source", o.limits.RequestsPerSource},
		{"--max-websockets-per-source", o.limits.WebSocketsPerSource},
		{"--max-requests-per-room", o.limits.RequestsPerRoom},
	} {
		if l.v == 0 || l.v < -1 {
			return nil, fmt.Errorf("%s must be positive, or -1 for no limit", l.flag)
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if o.clusterDomain == "" || strings.ContainsAny(o.clusterDomain, "/: ") {
		return nil, errors.New("--cluster-domain must be a DNS domain such as cluster.local")
	}
	return o, nil
}

// run serves until ctx ends, then shuts down: /readyz fails first, then
// the listener closes and requests in flight finish, then the proxied
// WebSockets are closed.
func run(ctx context.Context, cfg *rest.Config, o *options, logger *slog.Logger) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.kubeQPS), o.kubeBurst
	dir, err := frontdoor.NewDirectory(cfg, frontdoor.DirectoryOptions{Namespaces: o.namespaces, ClusterDomain: o.clusterDomain})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), dir)
	h, err := frontdoor.New(frontdoor.Options{
		Directory: dir,
		Dial:      o.dial,
		Metrics:   frontdoor.NewMetrics(reg),
		Logger:    logger,
		AccessLog: o.accessLog,
		HSTS:      o.tlsCert != "",
		Limits:    o.limits,
	})
	if err != nil {
		return err
	}

	cacheCtx, stopCache := context.WithCancel(context.Background())
	defer stopCache()
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- dir.Start(cacheCtx) }()

	var stopping atomic.Bool
	probes := http.NewServeMux()
	probes.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	probes.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	probes.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case stopping.Load():
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case !dir.Synced():
			http.Error(w, "service cache not synced", http.StatusServiceUnavailable)
		default:
			_, _ = io.WriteString(w, "ok\n")
		}
	})
	metricsSrv := &http.Server{Handler: probes, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog()}
	metricsLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.metricsListen)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	defer func() { _ = metricsSrv.Close() }()
	go func() { _ = metricsSrv.Serve(metricsLn) }()

	// Cancelling connCtx ends every request, which closes proxied WebSockets.
	connCtx, closeConns := context.WithCancel(context.Background())
	defer closeConns()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return connCtx },
		ErrorLog:          quietLog(),
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			// HTTP/1.1 only: WebSockets upgrade over it, and HTTP/2's
			// rapid-reset attacks (CVE-2023-44487) stay out.
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
			serveErr <- srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	if o.listening != nil {
		o.listening(ln.Addr().String(), metricsLn.Addr().String())
	}
	logger.Info("serving", "listen", ln.Addr().String(), "metrics", metricsLn.Addr().String(), "tls", o.tlsCert != "", "namespaces", len(o.namespaces))

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case err := <-cacheErr:
		return err
	}
	logger.Info("shutting down")
	stopping.Store(true)
	select {
	case <-time.After(o.shutdownDelay):
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	}
	drain, cancel := context.WithTimeout(context.Background(), o.drainTime)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		logger.Warn("requests still running at the drain timeout", "error", err.Error())
	}
	closeConns()
	h.Wait()
	logger.Info("stopped")
	return nil
}

// quietLog swallows net/http's server messages: they name client
// addresses ("TLS handshake error from 203.0.113.7:...").
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
