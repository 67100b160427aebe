// Package turntest starts real TURN servers on loopback and makes relay
// allocations against them with a pion/turn client, for the TURN tests and
// the TURN benchmark. Nothing here is a mock.
package turntest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
)

// CoturnBinary is the coturn server program looked up on PATH.
const CoturnBinary = "turnserver"

// ErrNoCoturn means that coturn is not installed.
var ErrNoCoturn = errors.New("coturn is not installed (no " + CoturnBinary + " on PATH; apt-get install coturn)")

// CoturnConfig configures a coturn instance on loopback.
type CoturnConfig struct {
	// Secret is coturn's static-auth-secret (TURN REST API credentials).
	// Without one, coturn reads its secrets from its database (DB), where
	// turnadmin changes them while it runs.
	Secret string
	// Realm is coturn's realm.
	Realm string
	// TLSCertFile and TLSKeyFile, when set, make coturn listen for TURN
	// over TLS too (tls-listening-port, cert, pkey) on TLSPort.
	TLSCertFile, TLSKeyFile string
	// TLSPort is the TLS listener's port, e.g. 443; a free one if 0.
	TLSPort int
	// Args are further command-line flags.
	Args []string
	// ListenIP is the address coturn listens and relays on; 127.0.0.1 if
	// nil.
	ListenIP net.IP
	// Port is the port of its UDP (and TCP) listener; a free one if 0.
	Port int
	// TCP opens its TURN-over-TCP listener on Port too.
	TCP bool
}

// Coturn is a running coturn process listening on 127.0.0.1 or
// CoturnConfig.ListenIP (UDP, and TCP and TLS when configured).
type Coturn struct {
	addr    *net.UDPAddr
	tlsAddr *net.TCPAddr
	tcpAddr *net.TCPAddr
	cmd     *exec.Cmd
	dir     string
	exited  chan struct{}
	err     error // cmd.Wait's result, set before exited is closed
}

// StartCoturn starts coturn on a free loopback port with TURN REST
// credentials under cfg.Secret, loopback peers allowed, and its files in a
// fresh temporary directory, and returns once it answers STUN or ctx ends.
func StartCoturn(ctx context.Context, cfg CoturnConfig) (*Coturn, error) {
	bin, err := exec.LookPath(CoturnBinary)
	if err != nil {
		return nil, ErrNoCoturn
	}
	ip := cfg.ListenIP
	if ip == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	port := cfg.Port
	if port == 0 {
		free := freeUDPPort
		if cfg.TCP {
			free = freeUDPAndTCPPort
		}
		if port, err = free(ip); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "coturn-")
	if err != nil {
		return nil, fmt.Errorf("coturn temp dir: %w", err)
	}
	// An empty config file keeps coturn from reading /etc/turnserver.conf.
	conf := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("coturn config: %w", err)
	}
	args := []string{
		"-c", conf,
		"--listening-ip=" + ip.String(),
		"--relay-ip=" + ip.String(),
		"--listening-port=" + strconv.Itoa(port),
		"--use-auth-secret",
		"--realm=" + cfg.Realm,
		"--allow-loopback-peers",
		"--no-cli", "--no-dtls", "--no-rfc5780",
		"--log-file=" + filepath.Join(dir, "turnserver.log"), "--simple-log", "--no-stdout-log",
		"--pidfile=" + filepath.Join(dir, "turnserver.pid"),
		"--db=" + filepath.Join(dir, "turndb"),
	}
	var tlsAddr *net.TCPAddr
	if cfg.TLSCertFile != "" {
		tlsPort := cfg.TLSPort
		if tlsPort == 0 {
			if tlsPort, err = freeTCPPort(ip); err != nil {
				_ = os.RemoveAll(dir)
				return nil, err
			}
		}
		tlsAddr = &net.TCPAddr{IP: ip, Port: tlsPort}
		args = append(args, "--tls-listening-port="+strconv.Itoa(tlsPort), "--cert="+cfg.TLSCertFile, "--pkey="+cfg.TLSKeyFile)
	} else {
		args = append(args, "--no-tls")
	}
	var tcpAddr *net.TCPAddr
	if cfg.TCP {
		tcpAddr = &net.TCPAddr{IP: ip, Port: port}
	} else {
		args = append(args, "--no-tcp")
	}
	if cfg.Secret != "" {
		args = append(args, "--static-auth-secret="+cfg.Secret)
	}
	args = append(args, cfg.Args...)
	// coturn lives until Close, not until ctx ends: ctx bounds the start-up only.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), bin, args...) //nolint:gosec // the binary and flags are ours.
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start coturn: %w", err)
	}
	c := &Coturn{
		addr:    &net.UDPAddr{IP: ip, Port: port},
		tlsAddr: tlsAddr,
		tcpAddr: tcpAddr,
		cmd:     cmd,
		dir:     dir,
		exited:  make(chan struct{}),
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	if err := c.awaitSTUN(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Addr is the UDP address coturn listens on.
func (c *Coturn) Addr() *net.UDPAddr { return c.addr }

// TLSAddr is the TCP address coturn accepts TURN over TLS on, nil without
// CoturnConfig.TLSCertFile.
func (c *Coturn) TLSAddr() *net.TCPAddr { return c.tlsAddr }

// TCPAddr is the TCP address coturn accepts TURN over TCP on, nil without
// CoturnConfig.TCP.
func (c *Coturn) TCPAddr() *net.TCPAddr { return c.tcpAddr }

// DB is coturn's SQLite database, for turnadmin -b.
func (c *Coturn) DB() string { return filepath.Join(c.dir, "turndb") }

// Pid is coturn's process id.
func (c *Coturn) Pid() int { return c.cmd.Process.Pid }

// Close kills coturn, waits for it to exit and removes its files.
func (c *Coturn) Close() error {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove coturn dir: %w", err)
	}
	return nil
}

// awaitSTUN sends STUN binding requests until one is answered, coturn exits
// or ctx ends.
func (c *Coturn) awaitSTUN(ctx context.Context) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: c.addr.IP})
	if err != nil {
		return fmt.Errorf("stun probe socket: %w", err)
	}
	defer func() { _ = conn.Close() }()
	buf := make([]byte, 1500)
	for {
		select {
		case <-c.exited:
			exitErr := c.err
			if exitErr == nil {
				exitErr = errors.New("exit status 0")
			}
			return fmt.Errorf("coturn exited before answering STUN (%w): %s", exitErr, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("coturn did not answer STUN: %w; its log ends:\n%s", ctx.Err(), c.logTail())
		default:
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := conn.WriteToUDP(req.Raw, c.addr); err != nil {
			return fmt.Errorf("stun probe: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue // no answer yet: coturn is still starting
		}
		// Any STUN answer will do, also a late one to an earlier probe.
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() == nil && res.Type.Method == stun.MethodBinding {
			return nil
		}
	}
}

// logTail returns the end of coturn's log, for start-up errors.
func (c *Coturn) logTail() string {
	b, err := os.ReadFile(filepath.Join(c.dir, "turnserver.log"))
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}

// CoturnVersion returns the version coturn reports, e.g. "4.6.1".
func CoturnVersion(ctx context.Context) (string, error) {
	bin, err := exec.LookPath(CoturnBinary)
	if err != nil {
		return "", ErrNoCoturn
	}
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput() //nolint:gosec // our binary.
	if err != nil {
		return "", fmt.Errorf("coturn --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// freeTCPPort returns a TCP port on ip that was free a moment ago.
func freeTCPPort(ip net.IP) (int, error) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: ip})
	if err != nil {
		return 0, fmt.Errorf("find free tcp port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freeUDPAndTCPPort returns a port on ip that was free for UDP and TCP a
// moment ago: coturn listens for both on one port number.
func freeUDPAndTCPPort(ip net.IP) (int, error) {
	for range 20 {
		port, err := freeUDPPort(ip)
		if err != nil {
			return 0, err
		}
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: ip, Port: port})
		if err == nil {
			_ = ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("find free port: no port free for both udp and tcp in 20 tries")
}

// freeUDPPort returns a UDP port on ip that was free a moment ago.
func freeUDPPort(ip net.IP) (int, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		return 0, fmt.Errorf("find free udp port: %w", err)
	}
	defer func() { _ = conn.Close() }()
	return conn.LocalAddr().(*net.UDPAddr).Port, nil
}
