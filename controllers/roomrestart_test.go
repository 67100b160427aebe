package controllers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/report"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// TestRoomRestartKeepsTheCallsTimes kills the room process mid-call and
// after the call, as a crash or a flood would, and starts a new one each
// time: the call's start never moves, its end is the real one, and the
// usage record at expiry holds the real length. The room reports through
// its Pod-bound token and the room policy, as in a cluster.
func TestRoomRestartKeepsTheCallsTimes(t *testing.T) {
	op, s := openRoom(t, "restarted")
	key := client.ObjectKeyFromObject(s)
	saDir := roomServiceAccountDir(t, getPod(t, s))
	now := newSettableTime(op.clock.Now())

	// The first process: both come in, then it dies without a last word.
	first := startRoomProcess(t, saDir, s, now.Get)
	now.Add(2 * time.Minute)
	started := now.Get()
	first.seatBoth(t)
	if got := waitPhase(t, key, videov1alpha1.PhaseInProgress).Status.StartedAt; !got.Time.Equal(started) {
		t.Fatalf("startedAt %v, want %v", got, started)
	}
	first.kill()

	// The second process finds the call gone: it ended at the restart.
	now.Add(time.Minute)
	lost := now.Get()
	second := startRoomProcess(t, saDir, s, now.Get)
	ended := waitPhase(t, key, videov1alpha1.PhaseEnded)
	if !ended.Status.StartedAt.Time.Equal(started) || !ended.Status.EndedAt.Time.Equal(lost) {
		t.Fatalf("after a restart mid-call: startedAt %v endedAt %v, want %v and %v", ended.Status.StartedAt, ended.Status.EndedAt, started, lost)
	}
	// They come back to the new process, talk, and hang up; it dies too.
	now.Add(time.Minute)
	second.seatBoth(t)
	if got := waitPhase(t, key, videov1alpha1.PhaseInProgress).Status.StartedAt; !got.Time.Equal(started) {
		t.Fatalf("startedAt moved to %v with the second process, want %v", got, started)
	}
	now.Add(40 * time.Minute)
	hungUp := now.Get()
	second.leave()
	waitPhase(t, key, videov1alpha1.PhaseEnded)
	second.kill()

	// A third process after the call changes nothing.
	now.Add(5 * time.Minute)
	third := startRoomProcess(t, saDir, s, now.Get)
	third.awaitRestored(t)
	after, err := getSession(key)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Status.StartedAt.Time.Equal(started) || !after.Status.EndedAt.Time.Equal(hungUp) || after.Status.Phase != videov1alpha1.PhaseEnded {
		t.Fatalf("after a restart after the call: %s, startedAt %v, endedAt %v; want Ended, %v, %v", after.Status.Phase, after.Status.StartedAt, after.Status.EndedAt, started, hungUp)
	}

	testenv.SetQueueTime(t, op.clock, s.Status.ExpiresAt.Time)
	waitGone(t, key)
	h := awaitObserved(t, op, "sprechzimmer_session_duration_seconds")
	if want := hungUp.Sub(started).Seconds(); h.GetSampleCount() != 1 || h.GetSampleSum() != want {
		t.Errorf("duration histogram: %d samples summing to %vs, want 1 sample of %vs", h.GetSampleCount(), h.GetSampleSum(), want)
	}
}

// roomServiceAccountDir writes what the kubelet mounts into a room's Pod:
// a token bound to pod, and the API server's CA.
func roomServiceAccountDir(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	token := roomToken(t, pod.Namespace, pod)
	dir := t.TempDir()
	for name, content := range map[string][]byte{"token": []byte(token), "ca.crt": cfg.CAData} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// settableTime is the room process's clock, moved by the test.
type settableTime struct {
	mu sync.Mutex
	t  time.Time
}

func newSettableTime(t time.Time) *settableTime { return &settableTime{t: t} }

func (s *settableTime) Get() time.Time      { s.mu.Lock(); defer s.mu.Unlock(); return s.t }
func (s *settableTime) Add(d time.Duration) { s.mu.Lock(); s.t = s.t.Add(d); s.mu.Unlock() }

// roomProcess is what cmd/signaling runs of a room: the room and its
// reporter, wired the same way.
type roomProcess struct {
	room     *room.Room
	rep      *report.Reporter
	members  []*room.Member
	restored chan struct{}
	kill     func()
}

const (
	restartTherapistToken = "therapist-token-for-the-restart-test-0000000000"
	restartClientToken    = "client-token-for-the-restart-test-11111111111111"
)

func startRoomProcess(t *testing.T, saDir string, s *videov1alpha1.VideoSession, now func() time.Time) *roomProcess {
	t.Helper()
	var rep *report.Reporter
	p := &roomProcess{restored: make(chan struct{})}
	p.room = room.New(room.Config{
		Therapist: jointoken.Of(restartTherapistToken), Client: jointoken.Of(restartClientToken),
		ExpiresAt: s.Status.ExpiresAt.Time, TermsVersion: "2026-11", Language: "de", Now: now,
		OnChange: func(st room.State) { rep.Update(st) },
	})
	var err error
	rep, err = report.New(report.Options{
		APIServer: cfg.Host, Namespace: s.Namespace, Name: s.Name, ServiceAccountDir: saDir,
		// Retries of a report whose session is gone are expected here.
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Restore: func(st room.State) { p.room.Restore(st); close(p.restored) },
	})
	if err != nil {
		t.Fatal(err)
	}
	p.rep = rep
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rep.Run(ctx); close(done) }()
	p.kill = func() { cancel(); <-done }
	t.Cleanup(p.kill)
	return p
}

func (p *roomProcess) awaitRestored(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, "the stored status read back", func() error {
		select {
		case <-p.restored:
			return nil
		default:
			return context.DeadlineExceeded
		}
	})
}

// seatBoth lets the therapist and the client in: both join, the
// therapist admits the client.
func (p *roomProcess) seatBoth(t *testing.T) {
	t.Helper()
	p.awaitRestored(t)
	consent := `{"consent":{"termsAccepted":true,"processingAccepted":true,"termsVersion":"2026-11"}}`
	for _, who := range []struct{ token, join string }{{restartTherapistToken, `{}`}, {restartClientToken, consent}} {
		m := p.room.Connect(quietConn{})
		hello, _ := json.Marshal(map[string]any{"version": protocol.Version, "token": who.token})
		for _, env := range []*protocol.Envelope{
			{Type: protocol.TypeHello, Data: hello},
			{Type: protocol.TypeJoin, Data: json.RawMessage(who.join)},
		} {
			if err := m.Receive(env); err != nil {
				t.Fatalf("%s: %v", env.Type, err)
			}
		}
		p.members = append(p.members, m)
	}
	// Sessions let the therapist admit the waiting client.
	if err := p.members[0].Receive(&protocol.Envelope{Type: protocol.TypeAdmit, Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatalf("admit: %v", err)
	}
}

// flush waits up to d for the room's last report, as cmd/signaling does
// before it stops.
func (p *roomProcess) flush(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.rep.Flush(ctx)
}

// leave hangs up: both connections go.
func (p *roomProcess) leave() {
	for _, m := range p.members {
		m.Disconnect()
	}
	p.members = nil
}

// quietConn is a browser that listens and never drops.
type quietConn struct{}

func (quietConn) Send([]byte)                 {}
func (quietConn) Close(int, string)           {}
func (quietConn) Probe(context.Context) error { return nil }
