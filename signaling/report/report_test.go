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
	"sync"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// patch is one request the fake API server got.
type patch struct {
	method, path, contentType, auth string
	body                            map[string]any
}

// apiServer is a TLS server that records patches and answers with the
// status codes in replies (200 once they run out) and a session without
// status.
func apiServer(t *testing.T, replies ...int) (*httptest.Server, chan patch, string) {
	t.Helper()
	return apiServerWith(t, `{"status":{}}`, replies...)
}

// apiServerWith is apiServer answering every patch with the session stored.
func apiServerWith(t *testing.T, stored string, replies ...int) (*httptest.Server, chan patch, string) {
	t.Helper()
	got := make(chan patch, 32)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p := patch{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization")}
		if err := json.Unmarshal(b, &p.body); err != nil {
			t.Errorf("body is not JSON: %s", b)
		}
		code := http.StatusOK
		if len(replies) > 0 {
			code, replies = replies[0], replies[1:]
		}
		got <- p // before the answer: requests arrive in order
		w.WriteHeader(code)
		_, _ = io.WriteString(w, stored)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	writeToken(t, dir, "token-1")
	return srv, got, dir
}

func writeToken(t *testing.T, dir, token string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, got chan patch) patch {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no patch arrived")
		return patch{}
	}
}

func start(t *testing.T, opts Options) *Reporter {
	t.Helper()
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 5*time.Millisecond
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// receiveReadBack receives the empty patch a reporter reads the stored
// status with, before it sends any state.
func receiveReadBack(t *testing.T, got chan patch) {
	t.Helper()
	p := receive(t, got)
	if b, _ := json.Marshal(p.body); p.method != http.MethodPatch || string(b) != `{"status":{}}` {
		t.Fatalf("first request %s %s, want the empty status patch that reads the stored status", p.method, b)
	}
}

func TestReportPatchesStatus(t *testing.T) {
	srv, got, dir := apiServer(t, http.StatusOK, http.StatusInternalServerError)
	r := start(t, Options{APIServer: srv.URL, Namespace: "praxis", Name: "s-42", ServiceAccountDir: dir})
	started := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	receiveReadBack(t, got)

	tests := []struct {
		name  string
		state room.State
		token string
		want  string
	}{
		// No start yet: left out, never cleared (the room policy refuses
		// clearing a start).
		{"one in", room.State{Participants: 1}, "token-1",
			`{"participants":1,"endedAt":null,"refusedJoins":0}`},
		{"call running", room.State{Participants: 2, StartedAt: started, RefusedJoins: 3}, "token-2",
			`{"participants":2,"startedAt":"2026-11-23T10:00:00Z","endedAt":null,"refusedJoins":3}`},
		{"call ended", room.State{Participants: 1, StartedAt: started, EndedAt: started.Add(50*time.Minute + 500*time.Millisecond), RefusedJoins: 3}, "token-3",
			`{"participants":1,"startedAt":"2026-11-23T10:00:00Z","endedAt":"2026-11-23T10:50:00Z","refusedJoins":3}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeToken(t, dir, tt.token) // the token rotates; every request reads it again
			r.Update(tt.state)
			p := receive(t, got)
			if i == 0 { // the first reply was a 500: the same state comes again
				p = receive(t, got)
			}
			if p.method != http.MethodPatch || p.path != "/apis/video.sprechzimmer.dev/v1alpha1/namespaces/praxis/videosessions/s-42/status" {
				t.Fatalf("%s %s", p.method, p.path)
			}
			if p.contentType != "application/merge-patch+json" || p.auth != "Bearer "+tt.token {
				t.Fatalf("content type %q, auth %q", p.contentType, p.auth)
			}
			b, _ := json.Marshal(p.body["status"])
			if string(b) != normalize(t, tt.want) {
				t.Fatalf("status %s, want %s", b, tt.want)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// normalize re-encodes JSON the way the test decodes bodies (sorted keys).
func normalize(t *testing.T, s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReportCoalescesToLatest(t *testing.T) {
	srv, got, dir := apiServer(t)
	r, err := New(Options{APIServer: srv.URL, Namespace: "n", Name: "s", ServiceAccountDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Updates before Run starts pile up; only the latest goes out.
	for i := range 10 {
		r.Update(room.State{Participants: i % 3, RefusedJoins: i})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	flushCtx, cancelFlush := context.WithTimeout(ctx, 5*time.Second)
	defer cancelFlush()
	if err := r.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}
	receiveReadBack(t, got)
	p := receive(t, got)
	if n := p.body["status"].(map[string]any)["refusedJoins"]; n != 9.0 {
		t.Fatalf("sent refusedJoins %v, want the latest, 9", n)
	}
	select {
	case p := <-got:
		t.Fatalf("a second patch was sent: %v", p.body)
	default:
	}
}

// TestRestoreComesFirst: a restarted room reads the stored status back
// (retrying until it can), hands its times and refusals to Restore, and
// only then sends a state of its own.
func TestRestoreComesFirst(t *testing.T) {
	const stored = `{"spec":{"note":"private"},"status":{"phase":"Ended","startedAt":"2026-11-23T10:00:00Z","endedAt":"2026-11-23T10:50:00Z","refusedJoins":2}}`
	srv, got, dir := apiServerWith(t, stored, http.StatusServiceUnavailable)
	restored := make(chan room.State, 1)
	r, err := New(Options{APIServer: srv.URL, Namespace: "n", Name: "s", ServiceAccountDir: dir,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Restore: func(s room.State) { restored <- s }})
	if err != nil {
		t.Fatal(err)
	}
	r.Update(room.State{Participants: 0}) // the new process's first state
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	receiveReadBack(t, got) // refused with 503, retried
	receiveReadBack(t, got)
	select {
	case s := <-restored:
		want := room.State{
			StartedAt:    time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
			EndedAt:      time.Date(2026, 11, 23, 10, 50, 0, 0, time.UTC),
			RefusedJoins: 2,
		}
		if !s.StartedAt.Equal(want.StartedAt) || !s.EndedAt.Equal(want.EndedAt) || s.RefusedJoins != want.RefusedJoins || s.Participants != 0 {
			t.Fatalf("Restore got %+v, want %+v", s, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Restore was not called")
	}
	if p := receive(t, got); p.body["status"].(map[string]any)["participants"] != 0.0 {
		t.Fatalf("after the read, sent %v", p.body)
	}
}

func TestFromConfigNeedsAnAPIServer(t *testing.T) {
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
	c := configFixture
	c.RefusalReportInterval = 7 * time.Second
	opts, err := FromConfig(&c, func(k string) string { return env[k] })
	if err != nil || opts.APIServer != "https://10.0.0.1:443" || opts.RefusalInterval != 7*time.Second {
		t.Fatalf("%+v, %v", opts, err)
	}
	if _, err := FromConfig(&configFixture, func(string) string { return "" }); err == nil {
		t.Fatal("no error without an API server")
	}
}

var configFixture = config.Config{SessionNamespace: "n", SessionName: "s", ServiceAccountDir: "/nonexistent"}

// fakeClock is a clock whose timers the test fires.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []fakeTimer    // not fired yet
	timers  chan fakeTimer // every After call, for the test to see
}

// fakeTimer is one After call: its duration and the channel that fires it.
type fakeTimer struct {
	d    time.Duration
	at   time.Time
	fire chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), timers: make(chan fakeTimer, 1024)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	t := fakeTimer{d: d, at: c.now.Add(d), fire: make(chan time.Time, 1)}
	c.pending = append(c.pending, t)
	c.mu.Unlock()
	c.timers <- t
	return t.fire
}

// advance moves the clock and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.pending[:0]
	for _, t := range c.pending {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.fire <- c.now
	}
	c.pending = kept
}

// timer waits for the reporter to start waiting.
func (c *fakeClock) timer(t *testing.T) fakeTimer {
	t.Helper()
	select {
	case tm := <-c.timers:
		return tm
	case <-time.After(5 * time.Second):
		t.Fatal("the reporter did not wait for the refusal interval")
		return fakeTimer{}
	}
}

// noPatch fails if a patch has arrived.
func noPatch(t *testing.T, got chan patch) {
	t.Helper()
	select {
	case p := <-got:
		t.Fatalf("unexpected patch %v", p.body)
	default:
	}
}

func refused(p patch) any { return p.body["status"].(map[string]any)["refusedJoins"] }

// TestRefusalsWaitForTheInterval: a state that only counts more refused
// joins waits until RefusalInterval has passed since the last send, however
// many arrive; a change of participants goes at once and takes the count
// along; Flush sends a waiting count at once; a state equal to the last one
// sent is not sent again.
func TestRefusalsWaitForTheInterval(t *testing.T) {
	srv, got, dir := apiServer(t)
	clock := newFakeClock()
	r := start(t, Options{APIServer: srv.URL, Namespace: "n", Name: "s", ServiceAccountDir: dir,
		RefusalInterval: 5 * time.Second, Now: clock.Now, After: clock.After})
	receiveReadBack(t, got)

	r.Update(room.State{Participants: 1})
	receive(t, got) // the first state goes at once

	for i := 1; i <= 100; i++ {
		r.Update(room.State{Participants: 1, RefusedJoins: i})
		// Each update wakes the reporter, which waits again (a wake can
		// cover several updates).
	}
	tm := clock.timer(t)
	if tm.d != 5*time.Second {
		t.Fatalf("waits %v, want the whole interval", tm.d)
	}
	noPatch(t, got)
	clock.advance(2 * time.Second)
	r.Update(room.State{Participants: 1, RefusedJoins: 101})
	for tm.d != 3*time.Second {
		tm = clock.timer(t) // the rest of the interval
	}
	noPatch(t, got)
	clock.advance(3 * time.Second)
	if p := receive(t, got); refused(p) != 101.0 {
		t.Fatalf("after the interval sent %v refused joins, want 101", refused(p))
	}

	started := clock.Now()
	r.Update(room.State{Participants: 1, RefusedJoins: 102})
	clock.timer(t)
	r.Update(room.State{Participants: 2, StartedAt: started, RefusedJoins: 103})
	if p := receive(t, got); refused(p) != 103.0 || p.body["status"].(map[string]any)["participants"] != 2.0 {
		t.Fatalf("a join was not sent at once: %v", p.body)
	}

	r.Update(room.State{Participants: 2, StartedAt: started, RefusedJoins: 104})
	clock.timer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p := receive(t, got); refused(p) != 104.0 {
		t.Fatalf("Flush sent %v refused joins, want 104", refused(p))
	}

	// Expiry of an empty room changes nothing: no patch, nothing pending.
	r.Update(room.State{Participants: 2, StartedAt: started, RefusedJoins: 104})
	if r.Pending() {
		t.Fatal("a state equal to the last one sent is pending")
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	noPatch(t, got)
}

func TestOnlyRefusals(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base := room.State{Participants: 1, StartedAt: at, RefusedJoins: 3}
	tests := []struct {
		name string
		b    room.State
		want bool
	}{
		{"same", base, true},
		{"more refusals", room.State{Participants: 1, StartedAt: at, RefusedJoins: 9}, true},
		{"participants", room.State{Participants: 2, StartedAt: at, RefusedJoins: 9}, false},
		{"start", room.State{Participants: 1, RefusedJoins: 9}, false},
		{"end", room.State{Participants: 1, StartedAt: at, EndedAt: at, RefusedJoins: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onlyRefusals(base, tt.b); got != tt.want {
				t.Fatalf("onlyRefusals = %v, want %v", got, tt.want)
			}
		})
	}
}
