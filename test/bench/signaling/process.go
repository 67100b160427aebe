package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/testroom"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
)

// readyPoll is how often Start asks /readyz while the server starts.
const readyPoll = time.Millisecond

// Build compiles cmd/signaling into dir and returns the binary's path. It
// runs in the module that holds this package's source, found by `go env GOMOD`.
func Build(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the sprechzimmer module; run from the repository")
	}
	bin := filepath.Join(dir, "signaling")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/signaling")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cmd/signaling: %w\n%s", err, out)
	}
	return bin, nil
}

// Server is a running cmd/signaling process serving one room on loopback.
type Server struct {
	// URL is the room page, http://127.0.0.1:port/.
	URL string
	// WSURL is the room's WebSocket.
	WSURL string
	// Tokens are the room's join tokens.
	testroom.Tokens
	// Ready is the time from exec to the first 200 from /readyz.
	Ready time.Duration

	cmd    *exec.Cmd
	pid    int
	stderr *testlog.Buffer // the server's output, for error messages
	exited chan struct{}
}

// Start runs bin with a fresh room (new tokens, expiry in an hour, no ICE
// servers) on a free loopback port and returns once /readyz answers 200.
func Start(ctx context.Context, bin string) (*Server, error) {
	return StartWith(ctx, bin, nil)
}

// StartWith is Start with extra environment variables.
func StartWith(ctx context.Context, bin string, extra map[string]string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	tokens, err := testroom.NewTokens()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{
		URL:    "http://" + addr + "/",
		WSURL:  "ws://" + addr + "/ws",
		Tokens: tokens,
		stderr: &testlog.Buffer{},
		exited: make(chan struct{}),
	}
	env := tokens.Env(time.Now().Add(time.Hour))
	env[config.EnvListen] = addr
	env[config.EnvPublicURL] = s.URL
	env[config.EnvICEServers] = "[]"
	env[config.EnvAdmission] = string(config.AdmissionAutomatic) // joins measured without the admission step
	for k, v := range extra {
		env[k] = v
	}
	s.cmd = exec.Command(bin)
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	s.cmd.Stdout = s.stderr
	s.cmd.Stderr = s.stderr

	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s.pid = s.cmd.Process.Pid
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.awaitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.Ready = time.Since(start)
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// awaitReady polls /readyz until it answers 200, the process exits or ctx ends.
func (s *Server) awaitReady(ctx context.Context) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-s.exited:
			return fmt.Errorf("signaling server exited before it was ready: %s", s.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("signaling server not ready: %w", ctx.Err())
		}
	}
}

// Memory is a process's resident memory from /proc/<pid>/status.
type Memory struct {
	// RSS is VmRSS, the resident set now.
	RSS int64
	// HWM is VmHWM, the largest resident set so far.
	HWM int64
}

// Memory reads the server process's resident memory.
func (s *Server) Memory() (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return Memory{}, fmt.Errorf("reading process status: %w", err)
	}
	defer func() { _ = f.Close() }()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("parsing %s: %w", name, err)
		}
		*dst = kib << 10
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("reading process status: %w", err)
	}
	return m, nil
}

// Stop ends the server with SIGTERM and waits for it; after 5 seconds it kills it.
func (s *Server) Stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping signaling server: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return nil
}
