// Command signaling is one room's signaling server: it serves the room page
// and the WebSocket the two browsers negotiate through, reports the room's
// state to its VideoSession, and exits shortly after the room expires. It
// holds no media: the connection test runs inside the browser.
//
// It reads its configuration from the environment (see signaling/config);
// its one flag is --version. It logs JSON to stderr, never a token, name,
// SDP, candidate or address of a person.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/version"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/metrics"
	"github.com/sprechzimmer/sprechzimmer/signaling/report"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
	"github.com/sprechzimmer/sprechzimmer/signaling/server"
)

// Bounds of the way out.
const (
	// closeWait is how long the browsers get to receive room-closed and
	// finish the close handshake after expiry.
	closeWait = 5 * time.Second
	// shutdownWait bounds the HTTP shutdown and the last status report.
	shutdownWait = 5 * time.Second
	// finalReportSpread is the span over which rooms expiring together
	// spread their last status reports, so that the API server does not
	// get them all at once. It is taken from shutdownWait's budget.
	finalReportSpread = 3 * time.Second
)

func main() {
	version.AddFlag(flag.CommandLine, "signaling")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("signaling server failed", "error", err.Error())
		os.Exit(1)
	}
}

// run serves until the room expires or a signal arrives.
func run(log *slog.Logger) error {
	sig, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err // config errors name variables, never values
	}
	m := metrics.New()
	var rep *report.Reporter
	rc := room.FromConfig(cfg)
	rc.OnChange = func(s room.State) {
		m.Observe(s)
		if rep != nil {
			rep.Update(s)
		}
	}
	r := room.New(rc)
	if cfg.ReportStatus {
		opts, err := report.FromConfig(cfg, os.Getenv)
		if err != nil {
			return err
		}
		opts.Logger = log
		// A restarted room first reads back what its predecessor
		// reported, so that the call's times never go backwards.
		opts.Restore = r.Restore
		if rep, err = report.New(opts); err != nil {
			return err
		}
	}
	srv, err := server.New(server.Options{Config: cfg, Room: r, Metrics: m, Logger: log})
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(sig, "tcp", cfg.Listen)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("serving", "listen", ln.Addr().String(), "reportStatus", cfg.ReportStatus)

	repCtx, stopReporting := context.WithCancel(context.Background())
	repDone := make(chan struct{})
	go func() {
		defer close(repDone)
		if rep != nil {
			rep.Run(repCtx)
		}
	}()

	expiry := time.NewTimer(time.Until(cfg.ExpiresAt))
	defer expiry.Stop()

	expired := false
	select {
	case <-expiry.C:
		log.Info("room expired")
		expired = true
		r.Expire()
		waitOrTimeout(srv.Wait, closeWait)
	case <-sig.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		stopReporting()
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := httpSrv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "error", err.Error())
	}
	srv.Close()
	if rep != nil {
		if d := finalReportDelay(expired, rep.Pending(), rand.Int64N); d > 0 {
			select {
			case <-time.After(d):
			case <-sig.Done():
			}
		}
		flushCtx, cancelFlush := context.WithTimeout(context.Background(), shutdownWait)
		defer cancelFlush()
		if err := rep.Flush(flushCtx); err != nil {
			log.Warn("last status report not sent", "error", err.Error())
		}
	}
	stopReporting()
	<-repDone
	log.Info("stopped")
	return nil
}

// finalReportDelay is how long an expired room waits before its last
// status report: nothing when nothing is left to send (the report was
// already sent, or the expiry changed nothing) or when it stops for a
// signal, otherwise a random time below finalReportSpread, drawn with
// randN (rand.Int64N), so that rooms expiring at the same moment do not
// report at the same moment.
func finalReportDelay(expired, pending bool, randN func(int64) int64) time.Duration {
	if !expired || !pending {
		return 0
	}
	return time.Duration(randN(int64(finalReportSpread)))
}

// waitOrTimeout runs wait and returns when it does or after d.
func waitOrTimeout(wait func(), d time.Duration) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
