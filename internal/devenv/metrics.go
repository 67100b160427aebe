package devenv

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Job names of the scrape targets, the job labels config/prometheus's
// monitors give the same components on a cluster.
const (
	JobOperator  = "sprechzimmer-operator"
	JobFrontDoor = "sprechzimmer-frontdoor"
	JobTURN      = "sprechzimmer-turn"
	JobRooms     = "sprechzimmer-rooms"
)

// metricsTargets are the addresses whose /metrics a Prometheus scrapes.
type metricsTargets struct {
	mu         sync.Mutex
	components map[string]string // job -> address
	rooms      map[string]string // room Service host -> the room process's address
}

// room records (or, with an empty addr, forgets) a room's address.
func (m *metricsTargets) room(host, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr == "" {
		delete(m.rooms, host)
		return
	}
	m.rooms[host] = addr
}

// MetricsTargets returns, by job (JobOperator, ...), the addresses serving
// /metrics now: the operator's, the front door's and the TURN server's
// when Options.Metrics is set, and the running rooms' (each room process
// serves its metrics on its own address, as on a cluster).
func (s *Setup) MetricsTargets() map[string][]string {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	targets := map[string][]string{}
	for job, addr := range s.metrics.components {
		targets[job] = []string{addr}
	}
	if rooms := slices.Sorted(maps.Values(s.metrics.rooms)); len(rooms) > 0 {
		targets[JobRooms] = slices.Compact(rooms)
	}
	return targets
}

// serveMetrics serves g's metrics at /metrics on a free loopback port until
// Stop, under the name job.
func (s *Setup) serveMetrics(ctx context.Context, job string, g prometheus.Gatherer) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("%s metrics: %w", job, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.onStop(func() { _ = srv.Close() })
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	s.metrics.components[job] = ln.Addr().String()
	return nil
}
