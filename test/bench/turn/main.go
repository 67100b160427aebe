// Command turn-bench compares the project's TURN server with coturn on this
// machine, with the client reaching the server over UDP, TCP and TLS (the
// relay is UDP in every case): relay throughput through one allocation in
// both directions,
// round-trip latency through the relay, allocations per second, and the
// servers' CPU time per relayed MB (user and system time from
// /proc/<pid>/stat). The servers run as their own processes on loopback
// (the project's server is this binary re-executed with -serve); the
// client is pion/turn and the peer a plain UDP socket, the same for all.
// Besides the project's server as configured by default, it measures the
// same server with -batch 1, one system call per datagram as before
// recvmmsg/sendmmsg batching, in the same run. It prints a markdown table.
//
// Usage:
//
//	go run ./test/bench/turn [-transports udp,tcp,tls] [-packets 20000] [-size 1200] [-window 64] [-runs 10] [-rtts 2000] [-allocs 300] [-batch 0] [-unbatched=true]
package main

import (
	"bufio"
	"context"
	"crypto/tls"
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
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

const (
	realm     = "bench.sprechzimmer.test"
	secretEnv = "TURN_BENCH_SECRET"
	// profileEnv names a file for a CPU profile of the project's server.
	profileEnv = "TURN_BENCH_CPUPROFILE"
	// memProfileEnv names a file for the project's server's allocation
	// profile (go tool pprof -sample_index=alloc_objects), written at exit.
	memProfileEnv = "TURN_BENCH_MEMPROFILE"
	// idle ends a throughput run once no datagram has arrived for this long.
	idle = 500 * time.Millisecond
)

type params struct {
	packets, size, window, runs, rtts, allocs, udpSockets, gomaxprocs, batch int
	unbatched                                                                bool
	transports                                                               []string
}

// Transports between client and server the benchmark knows.
const (
	transportUDP = "udp"
	transportTCP = "tcp"
	transportTLS = "tls"
)

func main() {
	serve := flag.Bool("serve", false, "internal: run the project's TURN server on loopback and print its port")
	var p params
	flag.IntVar(&p.packets, "packets", 20000, "datagrams per throughput run")
	flag.IntVar(&p.size, "size", 1200, "datagram payload size in bytes")
	flag.IntVar(&p.window, "window", 64, "datagrams in flight at most during a throughput run")
	flag.IntVar(&p.runs, "runs", 10, "rounds, alternating the servers; throughput is the median over rounds")
	flag.IntVar(&p.rtts, "rtts", 2000, "round trips for the latency figures, spread over the rounds")
	flag.IntVar(&p.allocs, "allocs", 300, "allocations for the allocations-per-second figure, spread over the rounds")
	flag.IntVar(&p.udpSockets, "udp-sockets", 1, "the project's server: -udp-sockets")
	flag.IntVar(&p.gomaxprocs, "gomaxprocs", 0, "the project's server: GOMAXPROCS (0: Go's default, the number of CPUs)")
	flag.IntVar(&p.batch, "batch", 0, "the project's server: datagrams per recvmmsg/sendmmsg (0: turn.DefaultBatchSize, 1: no batching)")
	flag.BoolVar(&p.unbatched, "unbatched", true, "measure the project's server with -batch 1 too, as a third server in the same run")
	transports := flag.String("transports", "udp,tcp,tls", "comma-separated transports between client and server to measure (udp, tcp, tls)")
	certFile := flag.String("tls-cert", "", "internal (-serve): the TLS listener's certificate file")
	keyFile := flag.String("tls-key", "", "internal (-serve): the TLS listener's key file")
	flag.Parse()
	for tr := range strings.SplitSeq(*transports, ",") {
		if !slices.Contains([]string{transportUDP, transportTCP, transportTLS}, tr) {
			fmt.Fprintf(os.Stderr, "turn-bench: -transports: unknown transport %q (udp, tcp, tls)\n", tr)
			os.Exit(2)
		}
		p.transports = append(p.transports, tr)
	}

	var err error
	if *serve {
		err = runServer(p.udpSockets, p.batch, *certFile, *keyFile)
	} else {
		err = runBench(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "turn-bench:", err)
		os.Exit(1)
	}
}

// runServer is the child process: the project's TURN server on loopback,
// over UDP, TCP and, given a certificate, TLS.
func runServer(udpSockets, batch int, certFile, keyFile string) (retErr error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := turn.New(turn.Config{
		Realm:       realm,
		Secret:      []byte(os.Getenv(secretEnv)),
		UDPAddress:  "127.0.0.1:0",
		TCPAddress:  "127.0.0.1:0",
		TLSAddress:  tlsAddress(certFile),
		TLSCertFile: certFile,
		TLSKeyFile:  keyFile,
		UDPSockets:  udpSockets,
		BatchSize:   batch,
		RelayIP:     net.IPv4(127, 0, 0, 1),
		RelayBindIP: "127.0.0.1",
		Peers:       turn.NewPeerPolicy([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil),
		// The benchmark's peers are sockets on loopback, the server's own host.
		UnsafeHostPeers: true,
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if path := os.Getenv(profileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer func() {
			// After StopCPUProfile (deferred later, run first) wrote the profile.
			if err := f.Close(); err != nil && retErr == nil {
				retErr = fmt.Errorf("cpu profile: %w", err)
			}
		}()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	tlsPort := 0
	if a, ok := srv.TLSAddr().(*net.TCPAddr); ok {
		tlsPort = a.Port
	}
	fmt.Println(srv.UDPAddr().(*net.UDPAddr).Port, srv.TCPAddr().(*net.TCPAddr).Port, tlsPort)
	<-ctx.Done()
	if path := os.Getenv(memProfileEnv); path != "" {
		if err := writeHeapProfile(path); err != nil {
			return err
		}
	}
	return srv.Close()
}

// tlsAddress is the TLS listener's address: none without a certificate.
func tlsAddress(certFile string) string {
	if certFile == "" {
		return ""
	}
	return "127.0.0.1:0"
}

// writeHeapProfile writes the allocation profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("memory profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	return nil
}

// startOwn re-executes this binary with -serve and returns the server's
// addresses by transport, its process id and a function that stops it.
func startOwn(secret string, p params, batch int, tlsFiles [2]string) (map[string]net.Addr, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.Command(self, "-serve", "-udp-sockets", strconv.Itoa(p.udpSockets), "-batch", strconv.Itoa(batch), //nolint:gosec // ourselves.
		"-tls-cert", tlsFiles[0], "-tls-key", tlsFiles[1])
	cmd.Env = append(os.Environ(), secretEnv+"="+secret)
	if p.gomaxprocs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(p.gomaxprocs))
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, nil, fmt.Errorf("start own server: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return nil, 0, nil, fmt.Errorf("own server did not report its ports: %w", err)
	}
	var udpPort, tcpPort, tlsPort int
	if _, err := fmt.Sscan(line, &udpPort, &tcpPort, &tlsPort); err != nil {
		stop()
		return nil, 0, nil, fmt.Errorf("own server ports %q: %w", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	loopback := net.IPv4(127, 0, 0, 1)
	addrs := map[string]net.Addr{
		transportUDP: &net.UDPAddr{IP: loopback, Port: udpPort},
		transportTCP: &net.TCPAddr{IP: loopback, Port: tcpPort},
	}
	if tlsPort != 0 {
		addrs[transportTLS] = &net.TCPAddr{IP: loopback, Port: tlsPort}
	}
	return addrs, cmd.Process.Pid, stop, nil
}

// target is one server under test.
type target struct {
	name string
	pid  int              // the server's process
	via  map[string]*path // by transport
}

// path is one server reached over one transport, with its figures so far.
type path struct {
	addr     net.Addr
	cpu      time.Duration // server CPU time spent during throughput runs
	relayed  int64         // bytes delivered in throughput runs
	alloc    *turntest.Allocation
	peer     *net.UDPConn
	to, from []throughput
	rtts     []time.Duration
	rttLoss  int
	allocs   int
	allocDur time.Duration
}

type throughput struct {
	mbps  float64 // megabytes (10^6) per second delivered
	loss  float64 // fraction of datagrams lost
	bytes int64   // bytes delivered
}

// newTarget is a server under test at addrs, by transport; TLS addresses
// are dialled trusting ca.
func newTarget(name string, pid int, addrs map[string]net.Addr, ca *turntest.CA) *target {
	t := &target{name: name, pid: pid, via: map[string]*path{}}
	for tr, a := range addrs {
		if tr == transportTLS {
			config := &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
			a = turntest.TLSAddr{Addr: a.(*net.TCPAddr), Config: config}
		}
		t.via[tr] = &path{addr: a}
	}
	return t
}

func runBench(p params) error {
	secret := "bench-secret-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cred := turncred.Mint([]byte(secret), "bench", time.Now().Add(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	coturnVersion, err := turntest.CoturnVersion(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "turn-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ca, err := turntest.NewCA()
	if err != nil {
		return err
	}
	tlsFiles := [2]string{filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")}
	if err := ca.Issue(tlsFiles[0], tlsFiles[1], 2, "127.0.0.1"); err != nil {
		return err
	}

	var targets []*target
	type variant struct {
		name  string
		batch int
	}
	variants := []variant{{"sprechzimmer", p.batch}}
	if p.unbatched {
		variants = append(variants, variant{"sprechzimmer -batch 1", 1})
	}
	for _, v := range variants {
		addrs, pid, stop, err := startOwn(secret, p, v.batch, tlsFiles)
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, newTarget(v.name, pid, addrs, ca))
	}
	startCtx, cancelStart := context.WithTimeout(ctx, 10*time.Second)
	defer cancelStart()
	coturnConfig := turntest.CoturnConfig{Secret: secret, Realm: realm, TCP: slices.Contains(p.transports, transportTCP)}
	if slices.Contains(p.transports, transportTLS) {
		coturnConfig.TLSCertFile, coturnConfig.TLSKeyFile = tlsFiles[0], tlsFiles[1]
	}
	coturn, err := turntest.StartCoturn(startCtx, coturnConfig)
	if err != nil {
		return err
	}
	defer func() { _ = coturn.Close() }() // only removes its temporary files once it is killed
	targets = append(targets, newTarget("coturn", coturn.Pid(), map[string]net.Addr{
		transportUDP: coturn.Addr(), transportTCP: coturn.TCPAddr(), transportTLS: coturn.TLSAddr(),
	}, ca))

	for _, t := range targets {
		for _, tr := range p.transports {
			if err := t.via[tr].setUp(ctx, cred, p); err != nil {
				return fmt.Errorf("%s over %s: %w", t.name, tr, err)
			}
			defer t.via[tr].tearDown()
		}
	}
	// Rounds alternate between the servers, so that a change in the
	// machine's load during the run hits all alike, and each round starts
	// with the next server, so that none always follows the same one (the
	// servers delete the last round's allocations while the next measures).
	for round := range p.runs {
		for _, tr := range p.transports {
			for i := range targets {
				t := targets[(round+i)%len(targets)]
				fmt.Fprintf(os.Stderr, "round %d/%d: %s over %s\n", round+1, p.runs, t.name, tr)
				if err := t.via[tr].round(ctx, t.pid, cred, p); err != nil {
					return fmt.Errorf("%s over %s: %w", t.name, tr, err)
				}
			}
		}
	}

	fmt.Printf("machine: %d CPUs (%s), %s, %s/%s, coturn %s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, coturnVersion)
	fmt.Printf("parameters: %d rounds alternating the servers; per round and transport %d datagrams of %d B each way with at most %d in flight, %d round trips, %d allocations; sprechzimmer -udp-sockets %d -batch %d, GOMAXPROCS %s\n",
		p.runs, p.packets, p.size, p.window, p.rtts/p.runs, p.allocs/p.runs, p.udpSockets, p.batch, gomaxprocsText(p.gomaxprocs))
	for _, tr := range p.transports {
		fmt.Printf("\n### client to server over %s\n\n", strings.ToUpper(tr))
		printTable(targets, tr)
	}
	return nil
}

// printTable prints the figures of targets over transport, the last
// target being coturn, with each other server's ratio to coturn.
func printTable(targets []*target, transport string) {
	own, c := targets[:len(targets)-1], targets[len(targets)-1].via[transport]
	header, rule := "| measure |", "|---|"
	for _, t := range targets {
		header, rule = header+" "+t.name+" |", rule+"---:|"
	}
	for _, t := range own {
		header, rule = header+" "+t.name+" / coturn |", rule+"---:|"
	}
	fmt.Println(header)
	fmt.Println(rule)
	// row prints one figure per server and the ratios; inverse gives the
	// ratio as coturn / ours, for figures where lower is better.
	row := func(name, unit string, digits int, inverse bool, f func(*path) float64) {
		line := "| " + name + " |"
		for _, t := range targets {
			line += fmt.Sprintf(" %.*f%s |", digits, f(t.via[transport]), unit)
		}
		for _, t := range own {
			ratio := f(t.via[transport]) / f(c)
			if inverse {
				ratio = 1 / ratio
			}
			line += fmt.Sprintf(" %.2fx |", ratio)
		}
		fmt.Println(line)
	}
	row("throughput client to peer (median)", " MB/s", 1, false, func(p *path) float64 { return median(p.to).mbps })
	row("throughput peer to client (median)", " MB/s", 1, false, func(p *path) float64 { return median(p.from).mbps })
	line := "| loss client to peer / peer to client |"
	for _, t := range targets {
		line += fmt.Sprintf(" %.1f%% / %.1f%% |", 100*median(t.via[transport].to).loss, 100*median(t.via[transport].from).loss)
	}
	fmt.Println(line + strings.Repeat(" |", len(own)))
	row("round trip p50", " µs", 0, false, func(p *path) float64 { return us(percentile(p.rtts, 50)) })
	row("round trip p99", " µs", 0, false, func(p *path) float64 { return us(percentile(p.rtts, 99)) })
	line = "| round trips lost |"
	for _, t := range targets {
		line += fmt.Sprintf(" %d |", t.via[transport].rttLoss)
	}
	fmt.Println(line + strings.Repeat(" |", len(own)))
	// CPU per relayed MB hardly depends on what else runs on the machine,
	// unlike the rates above; lower is better, so the ratio is inverted
	// (coturn / ours: above 1 means ours needs less).
	row("server CPU per relayed MB (lower is better; ratio coturn / ours)", " ms", 2, true, msPerMB)
	row("relayed calls per core at 2 Mbit/s each way", "", 0, false, callsPerCore)
	row("allocations per second", " /s", 0, false, func(p *path) float64 { return float64(p.allocs) / p.allocDur.Seconds() })
}

// callMBPerSecond is what one relayed call at 2 Mbit/s each way moves
// through the relay: 0.25 MB/s each way.
const callMBPerSecond = 2 * 2e6 / 8 / 1e6

// callsPerCore is how many such calls one core's second of CPU relays.
func callsPerCore(p *path) float64 {
	return 1000 / (msPerMB(p) * callMBPerSecond)
}

func gomaxprocsText(n int) string {
	if n <= 0 {
		return "default"
	}
	return strconv.Itoa(n)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// msPerMB is the server's CPU milliseconds per 10^6 bytes relayed.
func msPerMB(p *path) float64 {
	return float64(p.cpu) / float64(time.Millisecond) / (float64(p.relayed) / 1e6)
}

// processCPU returns the user and system CPU time process pid has used,
// all threads together, from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu time: %w", err)
	}
	// The command name in parentheses may hold spaces; fields follow it.
	_, rest, ok := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, errors.New("server cpu time: unexpected /proc stat format")
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server cpu time: %w", err)
		}
		ticks += n
	}
	const clockTicks = 100 // USER_HZ, 100 on Linux
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// setUp makes the allocation and the peer the rounds use, and warms the
// path up: the first round trips let the client bind a channel, so the
// measured traffic is ChannelData as a browser's would be.
func (t *path) setUp(ctx context.Context, cred turncred.Credential, p params) error {
	var err error
	if t.alloc, err = turntest.Allocate(ctx, t.addr, cred.Username, cred.Password); err != nil {
		return err
	}
	if t.peer, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return err
	}
	_ = t.peer.SetReadBuffer(8 << 20)
	_ = t.peer.SetWriteBuffer(8 << 20)
	_, _, err = roundTrips(t.alloc.Relay, t.peer, p.size, 200)
	return err
}

func (t *path) tearDown() {
	if t.alloc != nil {
		t.alloc.Close()
	}
	if t.peer != nil {
		_ = t.peer.Close()
	}
}

// round takes one round of every figure; pid is the server's process.
func (t *path) round(ctx context.Context, pid int, cred turncred.Credential, p params) error {
	start := time.Now()
	n, err := allocationRate(ctx, t.addr, cred, p.allocs/p.runs)
	if err != nil {
		return fmt.Errorf("allocations: %w", err)
	}
	t.allocs, t.allocDur = t.allocs+n, t.allocDur+time.Since(start)

	rtts, lost, err := roundTrips(t.alloc.Relay, t.peer, p.size, p.rtts/p.runs)
	if err != nil {
		return fmt.Errorf("round trips: %w", err)
	}
	t.rtts, t.rttLoss = append(t.rtts, rtts...), t.rttLoss+lost

	cpuBefore, err := processCPU(pid)
	if err != nil {
		return err
	}
	to, err := blast(t.alloc.Relay, t.peer.LocalAddr(), t.peer, p.size, p.packets, p.window)
	if err != nil {
		return fmt.Errorf("client to peer: %w", err)
	}
	from, err := blast(t.peer, t.alloc.Relay.LocalAddr(), t.alloc.Relay, p.size, p.packets, p.window)
	if err != nil {
		return fmt.Errorf("peer to client: %w", err)
	}
	cpuAfter, err := processCPU(pid)
	if err != nil {
		return err
	}
	t.cpu += cpuAfter - cpuBefore
	t.relayed += to.bytes + from.bytes
	t.to, t.from = append(t.to, to), append(t.from, from)
	return nil
}

// allocationRate makes n allocations one after the other, each from a
// fresh client socket, and asks to delete each before the next. The client
// sockets stay open until the end: the delete is not awaited, and a new
// socket on a just-freed port would otherwise hit a not yet deleted
// allocation (437 Allocation Mismatch).
func allocationRate(ctx context.Context, addr net.Addr, cred turncred.Credential, n int) (int, error) {
	allocs := make([]*turntest.Allocation, 0, n)
	defer func() {
		for _, a := range allocs {
			a.Close()
		}
	}()
	for range n {
		a, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
		if err != nil {
			return len(allocs), err
		}
		allocs = append(allocs, a)
		_ = a.Relay.Close() // Refresh with lifetime 0: delete the allocation
	}
	return n, nil
}

// roundTrips echoes n datagrams through the relay, one at a time: client ->
// relay -> peer -> relay -> client. Lost round trips (1 s without answer)
// are counted.
func roundTrips(relay net.PacketConn, peer *net.UDPConn, size, n int) (rtts []time.Duration, lost int, err error) {
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
	payload := make([]byte, size)
	buf := make([]byte, 2048)
	for i := range n {
		strconv.AppendInt(payload[:0], int64(i), 10)
		start := time.Now()
		if _, err := relay.WriteTo(payload, peer.LocalAddr()); err != nil {
			return nil, 0, err
		}
		_ = relay.SetReadDeadline(start.Add(time.Second))
		for {
			m, _, err := relay.ReadFrom(buf)
			if err != nil {
				lost++
				break
			}
			if m == size && string(buf[:len(strconv.Itoa(i))]) == strconv.Itoa(i) {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
	}
	_ = relay.SetReadDeadline(time.Time{})
	if len(rtts) == 0 {
		return nil, lost, errors.New("no round trip came back")
	}
	return rtts, lost, nil
}

// percentile returns the p-th percentile of ds (sorting ds).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)]
}

// blast sends n datagrams of size bytes from src to dst with at most
// window of them in flight, while rcv counts what arrives: a closed loop
// like a congestion-controlled media stream, so the figure is the rate the
// relay sustains rather than how fast a socket buffer overflows. A window
// that does not move for idle counts as lost. The rate is the bytes
// delivered over the time from the first send to the last arrival.
func blast(src net.PacketConn, dst net.Addr, rcv net.PacketConn, size, n, window int) (throughput, error) {
	var received atomic.Int64
	progress := make(chan struct{}, 1)
	done := make(chan time.Time, 1) // time of the last arrival
	go func() {
		buf := make([]byte, 2048)
		var last time.Time
		for received.Load() < int64(n) {
			_ = rcv.SetReadDeadline(time.Now().Add(idle))
			if _, _, err := rcv.ReadFrom(buf); err != nil {
				break // idle: the rest was lost
			}
			last = time.Now()
			received.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
		_ = rcv.SetReadDeadline(time.Time{})
		done <- last
	}()

	payload := make([]byte, size)
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var lost int64 // datagrams given up on, so they no longer hold the window
	start := time.Now()
	for sent := int64(0); sent < int64(n); sent++ {
		for sent-received.Load()-lost >= int64(window) {
			timer.Reset(idle / 10)
			select {
			case <-progress:
			case <-timer.C:
				lost = sent - received.Load()
			}
		}
		if _, err := src.WriteTo(payload, dst); err != nil {
			return throughput{}, err
		}
	}
	last := <-done
	got := received.Load()
	if got == 0 {
		return throughput{}, fmt.Errorf("none of %d datagrams arrived", n)
	}
	return throughput{
		mbps:  float64(got*int64(size)) / last.Sub(start).Seconds() / 1e6,
		loss:  1 - float64(got)/float64(n),
		bytes: got * int64(size),
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
