package report

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// nopConn is a connection that drops what the room sends it.
type nopConn struct{}

func (nopConn) Send([]byte)                 {}
func (nopConn) Close(int, string)           {}
func (nopConn) Probe(context.Context) error { return nil }

// guessRun is what a run of guesses cost the API server.
type guessRun struct {
	patches     int64 // status patches, the read-back not counted
	lastRefused float64
}

// guess sends n hellos with wrong tokens to a room whose state goes
// through a reporter with the given refusal interval to a fake API server
// that takes apiDelay per patch, one guess every pace, and returns the
// patches it got once the reporter has flushed.
func guess(t *testing.T, n int, pace, apiDelay, interval time.Duration) guessRun {
	t.Helper()
	var patches atomic.Int64
	var last atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body struct {
			Status map[string]any `json:"status"`
		}
		_ = json.Unmarshal(b, &body)
		if len(body.Status) > 0 {
			patches.Add(1)
			last.Store(body.Status["refusedJoins"])
		}
		time.Sleep(apiDelay) // the API server's round trip
		_, _ = io.WriteString(w, `{"status":{}}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	writeToken(t, dir, "sa")
	rep, err := New(Options{APIServer: srv.URL, Namespace: "n", Name: "s", ServiceAccountDir: dir, RefusalInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	r := room.New(room.Config{
		Therapist: jointoken.Of("therapist-token-0123456789abcdef"),
		Client:    jointoken.Of("client-token-0123456789abcdef"),
		ExpiresAt: time.Now().Add(time.Hour),
		OnChange:  rep.Update,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rep.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	hello, err := protocol.Encode(protocol.TypeHello, protocol.Hello{Version: protocol.Version, Token: "a-wrong-guess"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Decode(hello)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for range n {
		<-tick.C
		m := r.Connect(nopConn{})
		_ = m.Receive(env)
	}
	flushCtx, cancelFlush := context.WithTimeout(ctx, 10*time.Second)
	defer cancelFlush()
	if err := rep.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}
	got, _ := last.Load().(float64)
	return guessRun{patches: patches.Load(), lastRefused: got}
}

// TestGuessesCostAFewPatches: 3,000 wrong tokens in 3 s against an API
// server that takes 20 ms a patch. When every refusal is sent at once (as
// before RefusalInterval), that is a patch per round trip, well over a
// hundred; with the default interval a handful, and the count is complete.
// The figures are in docs/benchmarks.md.
func TestGuessesCostAFewPatches(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 6 s")
	}
	const n = 3000
	tests := []struct {
		name     string
		interval time.Duration
		check    func(int64) bool
		want     string
	}{
		{"every refusal at once (before)", time.Nanosecond, func(p int64) bool { return p >= 50 }, ">= 50"},
		{"refusals at most every 5 s (after)", DefaultRefusalInterval, func(p int64) bool { return p <= 5 }, "<= 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := guess(t, n, time.Millisecond, 20*time.Millisecond, tt.interval)
			t.Logf("%d wrong-token hellos: %d status patches", n, run.patches)
			if !tt.check(run.patches) {
				t.Errorf("%d patches, want %s", run.patches, tt.want)
			}
			if run.lastRefused != n {
				t.Errorf("the last patch reported %v refused joins, want %d", run.lastRefused, n)
			}
		})
	}
}
