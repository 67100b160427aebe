// Command signaling-bench measures the signaling server (issue 3): time
// from exec to ready, resident memory idle and during a call, join latency
// of two pion peers and the relay time of one message, all on loopback.
// It prints a Markdown table for docs/benchmarks.md.
//
//	go run ./test/bench/signaling [-bin path/to/signaling] [-joins 100]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	bin := flag.String("bin", "", "signaling server binary (default: build ./cmd/signaling)")
	startups := flag.Int("startups", 20, "server starts to time")
	joins := flag.Int("joins", 100, "calls to time")
	relays := flag.Int("relays", 100, "relayed messages to time")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *startups, *joins, *relays); err != nil {
		fmt.Fprintln(os.Stderr, "signaling-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, startups, joins, relays int) error {
	if bin == "" {
		dir, err := os.MkdirTemp("", "signaling-bench")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		if bin, err = Build(ctx, dir); err != nil {
			return err
		}
	}
	r, err := Run(ctx, bin, startups, joins, relays)
	if err != nil {
		return err
	}
	fmt.Printf("cmd/signaling on loopback; machine: %s\n\n", Machine(ctx))
	return WriteTable(os.Stdout, r)
}
