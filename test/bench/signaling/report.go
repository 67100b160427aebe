package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

// Aims of issue 3, checked in the table.
const (
	AimReady      = 100 * time.Millisecond
	AimIdleRSS    = 20 << 20
	AimJoinMedian = 200 * time.Millisecond
)

// Results is everything one benchmark run measured.
type Results struct {
	// Startup are the exec-to-ready times.
	Startup sample.Sample
	// Idle is the memory of a freshly started server.
	Idle Memory
	// Join are the join latencies and the memory during a call.
	Join JoinResult
	// AfterCalls is the memory once every measured call has ended.
	AfterCalls Memory
	// Relay are the one-message relay times.
	Relay sample.Sample
}

// Run measures bin: startup over startups runs, then on one server the idle
// memory, joins over joins calls and relay over relays messages.
func Run(ctx context.Context, bin string, startups, joins, relays int) (*Results, error) {
	var r Results
	var err error
	if r.Startup, err = Startup(ctx, bin, startups); err != nil {
		return nil, fmt.Errorf("startup: %w", err)
	}
	s, err := Start(ctx, bin)
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Stop() }()
	if r.Idle, err = s.Memory(); err != nil {
		return nil, err
	}
	if r.Join, err = Join(ctx, s, joins); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	if r.Relay, err = Relay(ctx, s, relays); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if r.AfterCalls, err = s.Memory(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Machine describes where the benchmark ran: CPUs, OS, Go version and the
// load average (other work on the machine skews the figures).
func Machine(ctx context.Context) string {
	nproc := "?"
	if out, err := exec.CommandContext(ctx, "nproc").Output(); err == nil {
		nproc = strings.TrimSpace(string(out))
	}
	goVersion := runtime.Version()
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%s/%s, nproc %s, %s, load average %s", runtime.GOOS, runtime.GOARCH, nproc, goVersion, load)
}

// WriteTable prints r as a Markdown table.
func WriteTable(w io.Writer, r *Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	// tabwriter buffers until Flush, which reports any write error.
	row := func(cells ...string) { _, _ = fmt.Fprintln(tw, "| "+strings.Join(cells, "\t| ")+"\t|") }
	row("measure", "runs", "p50", "p99", "max", "aim")
	row("---", "---", "---", "---", "---", "---")
	durations := func(name string, s sample.Sample, aim string) {
		row(name, fmt.Sprint(len(s)), ms(s.Percentile(50)), ms(s.Percentile(99)), ms(s.Max()), aim)
	}
	durations("exec → /readyz 200", r.Startup, "p50 < "+ms(AimReady)+" "+verdict(r.Startup.Percentile(50) < AimReady))
	durations("join → both ICE connected", r.Join.ICEConnected, "")
	durations("join → both connected (ICE+DTLS)", r.Join.Connected,
		"p50 < "+ms(AimJoinMedian)+" "+verdict(r.Join.Connected.Percentile(50) < AimJoinMedian))
	durations("relay of one message", r.Relay, "")
	memory := func(name string, v int64, aim string) { row(name, "1", mib(v), "", "", aim) }
	memory("RSS idle (VmRSS)", r.Idle.RSS, "< "+mib(AimIdleRSS)+" "+verdict(r.Idle.RSS < AimIdleRSS))
	memory("RSS, two peers in a call", r.Join.InCall.RSS, "")
	memory(fmt.Sprintf("RSS after %d calls", len(r.Join.Connected)), r.AfterCalls.RSS, "")
	memory("peak RSS (VmHWM)", r.AfterCalls.HWM, "")
	return tw.Flush()
}

func ms(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
