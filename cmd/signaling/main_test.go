package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/testroom"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

const (
	therapistToken = "cmd-test-therapist-token-4f9a1c7e2b8d"
	clientToken    = "cmd-test-client-token-0e3b5a9c7d1f"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles the command once per test run.
func build(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signaling-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "signaling")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binary
}

// proc is a running signaling server.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr testlog.Buffer
	exited chan error
}

// start runs the binary with env and returns once it logged "serving".
func start(tb testing.TB, env map[string]string) (*proc, time.Duration) {
	tb.Helper()
	cmd := exec.Command(build(tb))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1)}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.stderr.Write([]byte(line + "\n"))
			var rec struct{ Msg, Listen string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				serving <- rec.Listen
			}
		}
		p.exited <- cmd.Wait()
	}()
	tb.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case p.addr = <-serving:
	case err := <-p.exited:
		tb.Fatalf("exited before serving: %v\n%s", err, p.logs())
	case <-time.After(10 * time.Second):
		tb.Fatal("not serving within 10 s")
	}
	return p, time.Since(began)
}

func (p *proc) logs() string { return p.stderr.String() }

func baseEnv(expires time.Time) map[string]string {
	env := testroom.Tokens{Therapist: therapistToken, Client: clientToken}.Env(expires)
	env[config.EnvListen] = "127.0.0.1:0"
	return env
}

// statusServer is a fake Kubernetes API server that keeps the status patches.
func statusServer(t *testing.T) (string, string, chan map[string]any) {
	t.Helper()
	patches := make(chan map[string]any, 64)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/apis/video.sprechzimmer.dev/v1alpha1/namespaces/praxis/videosessions/s-1/status" ||
			r.Header.Get("Authorization") != "Bearer sa-token" || json.Unmarshal(b, &body) != nil {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		}
		patches <- body["status"].(map[string]any)
		// The answer to a patch is the stored object; this one has no
		// status yet.
		_, _ = io.WriteString(w, `{"status":{}}`)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for name, content := range map[string][]byte{"ca.crt": ca, "token": []byte("sa-token")} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return srv.URL, dir, patches
}

func TestServesAJoinThenExpiresAndExits(t *testing.T) {
	build(t) // before the clock starts: the room expires in 1.5 s
	api, saDir, patches := statusServer(t)
	env := baseEnv(time.Now().Add(1500 * time.Millisecond))
	env[config.EnvReportStatus] = "true"
	env[config.EnvSessionNamespace] = "praxis"
	env[config.EnvSessionName] = "s-1"
	env[config.EnvAPIServer] = api
	env[config.EnvServiceAccountDir] = saDir
	p, _ := start(t, env)

	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v\n%s", resp, err, p.logs())
	}
	_ = resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+p.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	for _, msg := range []string{
		`{"type":"hello","data":{"version":2,"token":"` + therapistToken + `"}}`,
		`{"type":"join","data":{"name":"Dr. Geheim"}}`,
	} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var types []protocol.Type
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != protocol.CloseRoomClosed {
				t.Fatalf("connection ended with %v, want close 4006", err)
			}
			break
		}
		env, err := protocol.DecodeServer(b)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, env.Type)
	}
	if fmt.Sprint(types) != "[welcome joined room-closed]" {
		t.Fatalf("got %v", types)
	}

	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.logs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running after expiry")
	}
	var last map[string]any
	for len(patches) > 0 {
		last = <-patches
	}
	if last == nil || last["participants"] != 0.0 {
		t.Fatalf("last status patch %v", last)
	}
	for _, secret := range []string{therapistToken, "Geheim"} {
		if strings.Contains(p.logs(), secret) {
			t.Fatalf("the log holds %q:\n%s", secret, p.logs())
		}
	}
}

func TestSignalStopsCleanly(t *testing.T) {
	p, _ := start(t, baseEnv(time.Now().Add(time.Hour)))
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.logs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running after SIGINT")
	}
}

func TestBadConfigFailsWithoutEchoingValues(t *testing.T) {
	env := baseEnv(time.Now().Add(time.Hour))
	env[config.EnvClientTokenHash] = "secret-looking-value"
	cmd := exec.Command(build(t))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("started with a bad configuration")
	}
	if strings.Contains(string(out), "secret-looking-value") || !strings.Contains(string(out), config.EnvClientTokenHash) {
		t.Fatalf("output: %s", out)
	}
}

// BenchmarkStartToReady measures exec until the server logs "serving" and
// the idle resident memory after one /readyz.
func BenchmarkStartToReady(b *testing.B) {
	build(b)
	var rss float64
	for b.Loop() {
		p, _ := start(b, baseEnv(time.Now().Add(time.Hour)))
		b.StopTimer()
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		rss = max(rss, rssMiB(b, p.cmd.Process.Pid))
		_ = p.cmd.Process.Kill()
		<-p.exited //nolint:errcheck // waits for the exit; the error of a process killed on purpose says nothing (and `_ =` trips S1005)
		b.StartTimer()
	}
	b.ReportMetric(rss, "MiB-rss")
}

// rssMiB reads VmRSS of pid from /proc.
func rssMiB(tb testing.TB, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err != nil {
				tb.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// TestFinalReportDelay: rooms expiring together spread their last reports
// over finalReportSpread; a room with nothing left to send, or stopping
// for a signal, does not wait.
func TestFinalReportDelay(t *testing.T) {
	tests := []struct {
		name             string
		expired, pending bool
		draw             int64 // what randN returns
		want             time.Duration
	}{
		{"expired with a report left", true, true, int64(1234 * time.Millisecond), 1234 * time.Millisecond},
		{"expired, nothing changed", true, false, int64(time.Second), 0},
		{"signal", false, true, int64(time.Second), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bound int64
			got := finalReportDelay(tt.expired, tt.pending, func(n int64) int64 { bound = n; return tt.draw })
			if got != tt.want {
				t.Fatalf("delay %v, want %v", got, tt.want)
			}
			if got > 0 && (bound != int64(finalReportSpread) || finalReportSpread > shutdownWait) {
				t.Fatalf("drawn below %v, want below finalReportSpread (%v, within %v)", time.Duration(bound), finalReportSpread, shutdownWait)
			}
		})
	}
}
