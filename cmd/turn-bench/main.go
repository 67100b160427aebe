// Command turn-bench compares the project's TURN server with coturn on this
// machine: relay throughput through one allocation in both directions,
// round-trip latency through the relay, and allocations per second. Both
// servers run as their own processes on loopback (the project's server is
// this binary re-executed with -serve); the client is pion/turn and the
// peer a plain UDP socket, the same for both. It prints a markdown table.
//
// Usage:
//
//	go run ./cmd/turn-bench [-packets 50000] [-size 1200] [-runs 3] [-rtts 2000] [-allocs 300]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/turn"
	"github.com/sprechzimmer/sprechzimmer/turn/turntest"
)

const (
	realm     = "bench.sprechzimmer.test"
	secretEnv = "TURN_BENCH_SECRET"
	// idle ends a throughput run once no datagram has arrived for this long.
	idle = 500 * time.Millisecond
)

type params struct {
	packets, size, runs, rtts, allocs, udpSockets int
}

func main() {
	serve := flag.Bool("serve", false, "internal: run the project's TURN server on loopback and print its port")
	var p params
	flag.IntVar(&p.packets, "packets", 50000, "datagrams per throughput run")
	flag.IntVar(&p.size, "size", 1200, "datagram payload size in bytes")
	flag.IntVar(&p.runs, "runs", 3, "throughput runs per direction; the median is reported")
	flag.IntVar(&p.rtts, "rtts", 2000, "round trips for the latency figures")
	flag.IntVar(&p.allocs, "allocs", 300, "allocations for the allocations-per-second figure")
	flag.IntVar(&p.udpSockets, "udp-sockets", 1, "the project's server: -udp-sockets")
	flag.Parse()

	var err error
	if *serve {
		err = runServer(p.udpSockets)
	} else {
		err = runBench(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "turn-bench:", err)
		os.Exit(1)
	}
}

// runServer is the child process: the project's TURN server on loopback.
func runServer(udpSockets int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := turn.New(turn.Config{
		Realm:       realm,
		Secret:      []byte(os.Getenv(secretEnv)),
		UDPAddress:  "127.0.0.1:0",
		UDPSockets:  udpSockets,
		RelayIP:     net.IPv4(127, 0, 0, 1),
		RelayBindIP: "127.0.0.1",
		Peers:       turn.NewPeerPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil),
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	fmt.Println(srv.UDPAddr().(*net.UDPAddr).Port)
	<-ctx.Done()
	return srv.Close()
}

// startOwn re-executes this binary with -serve and returns the server's
// address and a function that stops it.
func startOwn(secret string, udpSockets int) (net.Addr, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.Command(self, "-serve", "-udp-sockets", strconv.Itoa(udpSockets)) //nolint:gosec // ourselves.
	cmd.Env = append(os.Environ(), secretEnv+"="+secret)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start own server: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("own server did not report its port: %w", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("own server port %q: %w", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, stop, nil
}

// result holds one server's figures.
type result struct {
	toPeer, fromPeer throughput
	p50, p99         time.Duration
	rttLoss          int
	allocsPerSec     float64
}

type throughput struct {
	mbps float64 // megabytes (10^6) per second delivered
	loss float64 // fraction of datagrams lost
}

func runBench(p params) error {
	secret := "bench-secret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	coturnVersion, err := turntest.CoturnVersion()
	if err != nil {
		return err
	}
	own, stopOwn, err := startOwn(secret, p.udpSockets)
	if err != nil {
		return err
	}
	defer stopOwn()
	startCtx, cancelStart := context.WithTimeout(ctx, 10*time.Second)
	defer cancelStart()
	coturn, err := turntest.StartCoturn(startCtx, turntest.CoturnConfig{Secret: secret, Realm: realm})
	if err != nil {
		return err
	}
	defer coturn.Close()

	servers := []struct {
		name string
		addr net.Addr
	}{{"sprechzimmer", own}, {"coturn", coturn.Addr()}}
	results := make([]result, len(servers))
	for i, s := range servers {
		fmt.Fprintf(os.Stderr, "measuring %s ...\n", s.name)
		r, err := measure(ctx, s.addr, secret, p)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[i] = r
	}

	fmt.Printf("machine: %d CPUs (%s), %s, %s/%s, coturn %s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, coturnVersion)
	fmt.Printf("parameters: %d B datagrams, %d per throughput run, median of %d runs; %d round trips; %d allocations; sprechzimmer -udp-sockets %d\n\n",
		p.size, p.packets, p.runs, p.rtts, p.allocs, p.udpSockets)
	own1, cot := results[0], results[1]
	fmt.Println("| measure | sprechzimmer | coturn | ratio (sprechzimmer / coturn) |")
	fmt.Println("|---|---:|---:|---:|")
	row := func(name string, a, b float64, unit string, digits int) {
		fmt.Printf("| %s | %.*f %s | %.*f %s | %.2fx |\n", name, digits, a, unit, digits, b, unit, a/b)
	}
	row("throughput client to peer", own1.toPeer.mbps, cot.toPeer.mbps, "MB/s", 1)
	row("throughput peer to client", own1.fromPeer.mbps, cot.fromPeer.mbps, "MB/s", 1)
	fmt.Printf("| loss client to peer / peer to client | %.1f%% / %.1f%% | %.1f%% / %.1f%% | |\n",
		100*own1.toPeer.loss, 100*own1.fromPeer.loss, 100*cot.toPeer.loss, 100*cot.fromPeer.loss)
	row("round trip p50", us(own1.p50), us(cot.p50), "µs", 0)
	row("round trip p99", us(own1.p99), us(cot.p99), "µs", 0)
	fmt.Printf("| round trips lost | %d | %d | |\n", own1.rttLoss, cot.rttLoss)
	row("allocations per second", own1.allocsPerSec, cot.allocsPerSec, "/s", 0)
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// measure takes all figures for the server at addr.
func measure(ctx context.Context, addr net.Addr, secret string, p params) (result, error) {
	var r result
	cred := turncred.Mint([]byte(secret), "bench", time.Now().Add(time.Hour))

	var err error
	if r.allocsPerSec, err = allocationRate(ctx, addr, cred, p.allocs); err != nil {
		return r, err
	}

	alloc, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
	if err != nil {
		return r, err
	}
	defer alloc.Close()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return r, err
	}
	defer peer.Close()
	_ = peer.SetReadBuffer(8 << 20)
	_ = peer.SetWriteBuffer(8 << 20)

	// The latency run comes first: its first round trips also let the
	// client bind a channel, so the throughput runs send ChannelData.
	if r.p50, r.p99, r.rttLoss, err = latency(alloc.Relay, peer, p.size, p.rtts); err != nil {
		return r, err
	}
	var to, from []throughput
	for range p.runs {
		t, err := blast(alloc.Relay, peer.LocalAddr(), peer, p.size, p.packets)
		if err != nil {
			return r, fmt.Errorf("client to peer: %w", err)
		}
		to = append(to, t)
		t, err = blast(peer, alloc.Relay.LocalAddr(), alloc.Relay, p.size, p.packets)
		if err != nil {
			return r, fmt.Errorf("peer to client: %w", err)
		}
		from = append(from, t)
	}
	r.toPeer, r.fromPeer = median(to), median(from)
	return r, nil
}

// allocationRate makes n allocations one after the other, each from a
// fresh client socket, deleting each before the next.
func allocationRate(ctx context.Context, addr net.Addr, cred turncred.Credential, n int) (float64, error) {
	start := time.Now()
	for range n {
		a, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
		if err != nil {
			return 0, err
		}
		a.Close()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// latency echoes datagrams through the relay: client -> relay -> peer ->
// relay -> client. Lost round trips (1 s without answer) are counted.
func latency(relay net.PacketConn, peer *net.UDPConn, size, n int) (p50, p99 time.Duration, lost int, err error) {
	stop, echoDone := make(chan struct{}), make(chan struct{})
	defer func() {
		// End the echo before the throughput runs use the peer socket.
		close(stop)
		_ = peer.SetReadDeadline(time.Now())
		<-echoDone
		_ = peer.SetReadDeadline(time.Time{})
	}()
	go func() { // the peer echoes everything back to where it came from
		defer close(echoDone)
		buf := make([]byte, 2048)
		for {
			m, from, err := peer.ReadFromUDP(buf)
			select {
			case <-stop:
				return
			default:
			}
			if err != nil {
				continue
			}
			_, _ = peer.WriteToUDP(buf[:m], from)
		}
	}()
	const warmup = 100
	payload := make([]byte, size)
	buf := make([]byte, 2048)
	var rtts []time.Duration
	for i := range n + warmup {
		strconv.AppendInt(payload[:0], int64(i), 10)
		start := time.Now()
		if _, err := relay.WriteTo(payload, peer.LocalAddr()); err != nil {
			return 0, 0, 0, err
		}
		_ = relay.SetReadDeadline(start.Add(time.Second))
		for {
			m, _, err := relay.ReadFrom(buf)
			if err != nil {
				lost++
				break
			}
			if m == size && string(buf[:len(strconv.Itoa(i))]) == strconv.Itoa(i) {
				if i >= warmup {
					rtts = append(rtts, time.Since(start))
				}
				break
			}
		}
	}
	_ = relay.SetReadDeadline(time.Time{})
	if len(rtts) == 0 {
		return 0, 0, lost, errors.New("no round trip came back")
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], rtts[len(rtts)*99/100], lost, nil
}

// blast sends n datagrams of size bytes from src to dst as fast as src
// takes them, while rcv counts what arrives; the rate is the bytes
// delivered over the time from the first to the last arrival.
func blast(src net.PacketConn, dst net.Addr, rcv net.PacketConn, size, n int) (throughput, error) {
	type count struct {
		got         int
		first, last time.Time
	}
	done := make(chan count, 1)
	ready := make(chan struct{})
	go func() {
		var c count
		buf := make([]byte, 2048)
		close(ready)
		for c.got < n {
			_ = rcv.SetReadDeadline(time.Now().Add(idle))
			if _, _, err := rcv.ReadFrom(buf); err != nil {
				break // idle: the rest was lost
			}
			c.last = time.Now()
			if c.got == 0 {
				c.first = c.last
			}
			c.got++
		}
		_ = rcv.SetReadDeadline(time.Time{})
		done <- c
	}()
	<-ready
	payload := make([]byte, size)
	for range n {
		if _, err := src.WriteTo(payload, dst); err != nil {
			return throughput{}, err
		}
	}
	c := <-done
	if c.got < 2 {
		return throughput{}, fmt.Errorf("only %d of %d datagrams arrived", c.got, n)
	}
	secs := c.last.Sub(c.first).Seconds()
	return throughput{
		mbps: float64((c.got-1)*size) / secs / 1e6,
		loss: 1 - float64(c.got)/float64(n),
	}, nil
}

func median(ts []throughput) throughput {
	slices.SortFunc(ts, func(a, b throughput) int {
		switch {
		case a.mbps < b.mbps:
			return -1
		case a.mbps > b.mbps:
			return 1
		}
		return 0
	})
	return ts[len(ts)/2]
}

// cpuModel returns the CPU model name from /proc/cpuinfo, "unknown" elsewhere.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown"
}
