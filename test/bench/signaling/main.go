// Command signaling-bench measures the signaling server (issue 3): time
// from exec to ready, resident memory idle and during a call, join latency
// of two pion peers and the relay time of one message, all on loopback.
// It prints a Markdown table for docs/benchmarks.md. With -flood N it
// instead floods one server with N WebSockets that never say hello (issue
// 10) and brings a real pair in during the flood. With -footprint N it
// instead builds cmd/signaling the way the room's image holds it and
// reports its size and the idle memory of N freshly started processes
// (issue 11: what removing the connection test's echo peer saved).
//
//	go run ./test/bench/signaling [-bin path/to/signaling] [-joins 100]
//	go run ./test/bench/signaling -flood 10000
//	go run ./test/bench/signaling -footprint 20 [-src /path/to/other/checkout]
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
	sockets := flag.Int("flood", 0, "instead: flood one server with this many WebSockets that never say hello, and bring a real pair in during it")
	workers := flag.Int("flood-workers", 64, "sockets the flood opens at once")
	footprint := flag.Int("footprint", 0, "instead: build cmd/signaling like its image and report its size and the idle memory of this many fresh processes")
	src := flag.String("src", ".", "with -footprint: the checkout to build cmd/signaling from")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *footprint > 0 {
		if err := runFootprint(ctx, *src, *footprint); err != nil {
			fmt.Fprintln(os.Stderr, "signaling-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *bin, *startups, *joins, *relays, *sockets, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "signaling-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, startups, joins, relays, sockets, workers int) error {
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
	if sockets > 0 {
		r, err := Flood(ctx, bin, sockets, workers)
		if err != nil {
			return err
		}
		fmt.Printf("cmd/signaling on loopback, GOMEMLIMIT=%s (the room Pod's); machine: %s\n\n", podGoMemLimit, Machine(ctx))
		return WriteFloodTable(os.Stdout, r)
	}
	r, err := Run(ctx, bin, startups, joins, relays)
	if err != nil {
		return err
	}
	fmt.Printf("cmd/signaling on loopback; machine: %s\n\n", Machine(ctx))
	return WriteTable(os.Stdout, r)
}

func runFootprint(ctx context.Context, src string, runs int) error {
	dir, err := os.MkdirTemp("", "signaling-footprint")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin, err := BuildLikeImage(ctx, src, dir)
	if err != nil {
		return err
	}
	f, err := MeasureFootprint(ctx, bin, runs)
	if err != nil {
		return err
	}
	fmt.Printf("cmd/signaling of %s, CGO_ENABLED=0 -trimpath -ldflags '-s -w'; machine: %s\n\n", src, Machine(ctx))
	return WriteFootprintTable(os.Stdout, f)
}
