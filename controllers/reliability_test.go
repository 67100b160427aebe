package controllers_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// The reliability tests run many rooms at once against the real API
// server. The operator that opens them runs without client-side rate
// limits, to keep the tests short; the one measured is a restarted one,
// configured as cmd/manager's defaults configure it (asManager). They log
// their figures (docs/benchmarks.md, "Reliability suite"):
//
//	go test -count=1 -v -run TestReliability ./controllers/
const (
	// manyRooms is how many sessions a reliability test runs.
	manyRooms = 500
	// Bounds, generous against the figures measured on 2 busy cores
	// (docs/benchmarks.md): a failure means something is wrong, not slow.
	openBound   = 3 * time.Minute
	expiryBound = 90 * time.Second
)

// opener is the operator that opens the rooms: cmd/manager's concurrency,
// the suite's unlimited API rate.
func opener(o *operator.Options, _ *rest.Config) { o.MaxConcurrentReconciles = 8 }

// asManager gives the operator cmd/manager's default concurrency and API
// rate limits (--max-concurrent-reconciles, --kube-api-qps, --kube-api-burst).
func asManager(o *operator.Options, c *rest.Config) {
	o.MaxConcurrentReconciles = 8
	c.QPS, c.Burst = 100, 200
}

// TestReliabilityOperatorKilledWithManySessionsDue opens manyRooms rooms,
// a third of them with a call the room reported, stops the operator, lets
// every room's expiry pass while it is down, and starts it again: each
// session is deleted within expiryBound, and its usage is recorded exactly
// once, with the call's length, by the new operator.
func TestReliabilityOperatorKilledWithManySessionsDue(t *testing.T) {
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	op := startOperator(t, ns, clk, opener)
	sessions := openRooms(t, ns, op.clock.Now().Add(10*time.Minute))

	started := op.clock.Now().Add(time.Minute)
	var want usageFigures
	for i, s := range sessions {
		if i%3 != 0 {
			want.add(0, false)
			continue
		}
		length := time.Duration(10+i%40) * time.Minute
		reportRoom(t, s, fmt.Sprintf(`{"status":{"participants":0,"startedAt":%q,"endedAt":%q}}`,
			started.UTC().Format(time.RFC3339), started.Add(length).UTC().Format(time.RFC3339)))
		want.add(length, true)
	}
	awaitPhaseCount(t, ns, videov1alpha1.PhaseEnded, want.held, openBound)

	op.stop()
	op.clock.SetTime(sessions[0].Status.ExpiresAt.Add(time.Minute))
	before := apiRequests(t)
	restarted := time.Now()
	op = startOperator(t, ns, op.clock, asManager)
	awaitSessionCount(t, ns, 0, expiryBound)
	took := time.Since(restarted)
	t.Logf("operator restarted with %d sessions due: all deleted %v after the restart", manyRooms, took.Round(10*time.Millisecond))
	logAPIRequests(t, apiRequests(t).since(before))

	want.check(t, op)
}

// TestReliabilityManyRoomsExpireAtOnce runs manyRooms rooms as the
// signaling server does (a room and its reporter, with a Pod-bound token
// through the room policy): a third are never joined, a third hold a call
// that ended, a third are in a call when they all expire in the same
// second. Every room sends its final report at that second, all at once
// (the worst case: cmd/signaling spreads them over 3 s), while the operator
// (restarted as asManager after the rooms opened) deletes the sessions. No request fails on the API server's side (5xx,
// 429), every session is deleted within expiryBound, and every usage
// record is there exactly once, with the call's length.
func TestReliabilityManyRoomsExpireAtOnce(t *testing.T) {
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	op := startOperator(t, ns, clk, opener)
	sessions := openRooms(t, ns, op.clock.Now().Add(10*time.Minute))
	expires := sessions[0].Status.ExpiresAt.Time

	pods := roomPods(t, ns)
	now := newSettableTime(op.clock.Now())
	rooms := make([]*roomProcess, len(sessions))
	for i, s := range sessions {
		rooms[i] = startRoomProcess(t, roomServiceAccountDir(t, pods[s.Name]), s, now.Get)
	}
	now.Add(time.Minute)
	started := now.Get()
	for i, p := range rooms {
		if i%3 != 0 {
			p.seatBoth(t)
		}
	}
	now.Add(40 * time.Minute)
	var want usageFigures
	inCall := 0
	for i, p := range rooms {
		switch i % 3 {
		case 0:
			want.add(0, false)
		case 1:
			p.leave()
			want.add(40*time.Minute, true)
		case 2:
			inCall++
			want.add(expires.Sub(started), true)
		}
	}
	awaitPhaseCount(t, ns, videov1alpha1.PhaseEnded, want.held-inCall, openBound)
	awaitPhaseCount(t, ns, videov1alpha1.PhaseInProgress, inCall, openBound)

	op.stop()
	op = startOperator(t, ns, op.clock, asManager)

	// Expiry: the operator's deadline and every room's final report.
	now.Add(expires.Sub(now.Get()))
	before := apiRequests(t)
	began := time.Now()
	testenv.SetQueueTime(t, op.clock, expires)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unsent int
	for _, p := range rooms {
		wg.Go(func() {
			p.room.Expire()
			if err := p.flush(5 * time.Second); err != nil {
				mu.Lock()
				unsent++
				mu.Unlock()
			}
		})
	}
	awaitSessionCount(t, ns, 0, expiryBound)
	took := time.Since(began)
	wg.Wait()
	t.Logf("%d rooms expired at once: all sessions deleted %v after the deadline; %d final reports not sent (their session was gone)",
		manyRooms, took.Round(10*time.Millisecond), unsent)
	requests := apiRequests(t).since(before)
	logAPIRequests(t, requests)
	for k, n := range requests {
		if k.code >= 500 || k.code == http.StatusTooManyRequests {
			t.Errorf("%v requests answered %d (%s %s/%s): the API server was overloaded", n, k.code, k.verb, k.resource, k.subresource)
		}
	}

	want.check(t, op)
}

// openRooms creates manyRooms sessions in ns that start at start, sixteen
// at a time, and returns them, in order, once every room is open.
func openRooms(t *testing.T, ns string, start time.Time) []*videov1alpha1.VideoSession {
	t.Helper()
	sessions := make([]*videov1alpha1.VideoSession, manyRooms)
	jobs := make(chan int)
	errs := make(chan error, manyRooms)
	var wg sync.WaitGroup
	began := time.Now()
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				sessions[i] = newSession(ns, fmt.Sprintf("s-%04d", i), start)
				if err := k8sClient.Create(context.Background(), sessions[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range manyRooms {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating a session: %v", err)
	}
	awaitPhaseCount(t, ns, videov1alpha1.PhaseOpen, manyRooms, openBound)
	t.Logf("%d rooms open %v after the first creation", manyRooms, time.Since(began).Round(10*time.Millisecond))
	var list videov1alpha1.VideoSessionList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		n, _ := strconv.Atoi(strings.TrimPrefix(list.Items[i].Name, "s-"))
		sessions[n] = &list.Items[i]
	}
	return sessions
}

// roomPods returns ns's room Pods by the session they belong to.
func roomPods(t *testing.T, ns string) map[string]*corev1.Pod {
	t.Helper()
	var pods corev1.PodList
	if err := k8sClient.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*corev1.Pod{}
	for i := range pods.Items {
		byName[strings.TrimSuffix(pods.Items[i].Name, "-room")] = &pods.Items[i]
	}
	return byName
}

// awaitPhaseCount waits up to bound until exactly n sessions of ns are in
// phase.
func awaitPhaseCount(t *testing.T, ns string, phase videov1alpha1.Phase, n int, bound time.Duration) {
	t.Helper()
	within(t, fmt.Sprintf("%d sessions %s", n, phase), bound, func() error {
		var list videov1alpha1.VideoSessionList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		got := 0
		for _, s := range list.Items {
			if s.Status.Phase == phase {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d sessions %s", got, phase)
		}
		return nil
	})
}

// awaitSessionCount waits up to bound until ns holds n sessions.
func awaitSessionCount(t *testing.T, ns string, n int, bound time.Duration) {
	t.Helper()
	within(t, fmt.Sprintf("%d sessions left", n), bound, func() error {
		var list videov1alpha1.VideoSessionList
		if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) != n {
			return fmt.Errorf("%d sessions left", len(list.Items))
		}
		return nil
	})
}

// within polls cond until it returns nil, for at most bound, and returns
// how long it took; testenv.Eventually with a bound of the caller's.
func within(t *testing.T, what string, bound time.Duration, cond func() error) time.Duration {
	t.Helper()
	began := time.Now()
	var err error
	for time.Since(began) < bound {
		if err = cond(); err == nil {
			return time.Since(began)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, bound, err)
	return 0
}

// usageFigures are what the usage records of a set of sessions must show.
type usageFigures struct {
	held, notHeld int
	// lengths counts the held sessions by their length in seconds.
	lengths map[int64]int
}

func (u *usageFigures) add(length time.Duration, held bool) {
	if !held {
		u.notHeld++
		return
	}
	if u.lengths == nil {
		u.lengths = map[int64]int{}
	}
	u.held++
	u.lengths[int64(length.Seconds())]++
}

// check waits until op has written all the usage lines of u, then compares
// them and op's metrics with u: one record per session, none twice.
func (u *usageFigures) check(t *testing.T, op *testOperator) {
	t.Helper()
	total := u.held + u.notHeld
	var lines []string
	testenv.Eventually(t, "every usage line", func() error {
		lines = strings.Split(strings.TrimSpace(op.usage.String()), "\n")
		if len(lines) < total {
			return fmt.Errorf("%d usage lines, want %d", len(lines), total)
		}
		return nil
	})
	got := usageFigures{}
	for _, l := range lines {
		var rec struct {
			Held            bool  `json:"held"`
			DurationSeconds int64 `json:"durationSeconds"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("usage line %q: %v", l, err)
		}
		got.add(time.Duration(rec.DurationSeconds)*time.Second, rec.Held)
	}
	if got.held != u.held || got.notHeld != u.notHeld || !maps.Equal(got.lengths, u.lengths) {
		t.Errorf("usage lines: %d held %v, %d not held; want %d held %v, %d not held",
			got.held, got.lengths, got.notHeld, u.held, u.lengths, u.notHeld)
	}
	if n := counter(t, op, "sprechzimmer_sessions_deleted_total"); n != float64(total) {
		t.Errorf("sessions_deleted_total = %v, want %d", n, total)
	}
	var sum float64
	for l, n := range u.lengths {
		sum += float64(l) * float64(n)
	}
	if h := histogram(t, op, "sprechzimmer_session_duration_seconds"); h.GetSampleCount() != uint64(u.held) || h.GetSampleSum() != sum {
		t.Errorf("duration histogram: %d samples summing to %vs, want %d summing to %vs", h.GetSampleCount(), h.GetSampleSum(), u.held, sum)
	}
}

// requestKey is a series of the API server's apiserver_request_total.
type requestKey struct {
	verb, resource, subresource string
	code                        int
}

// requestCounts are apiserver_request_total's values.
type requestCounts map[requestKey]float64

// since returns the requests counted after before.
func (c requestCounts) since(before requestCounts) requestCounts {
	d := requestCounts{}
	for k, v := range c {
		if n := v - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

var requestSeries = regexp.MustCompile(`^apiserver_request_total\{(.*)\} ([0-9.e+]+)$`)
var seriesLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiRequests reads the API server's request counters from its /metrics.
func apiRequests(t *testing.T) requestCounts {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(cfg.Host, "/") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	counts := requestCounts{}
	for _, line := range strings.Split(string(body), "\n") {
		m := requestSeries.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range seriesLabel.FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
		code, _ := strconv.Atoi(labels["code"])
		v, _ := strconv.ParseFloat(m[2], 64)
		counts[requestKey{verb: labels["verb"], resource: labels["resource"], subresource: labels["subresource"], code: code}] += v
	}
	return counts
}

// logAPIRequests logs the requests of counts, largest first.
func logAPIRequests(t *testing.T, counts requestCounts) {
	t.Helper()
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b requestKey) int { return cmp.Compare(counts[b], counts[a]) })
	var total float64
	var b strings.Builder
	for _, k := range keys {
		total += counts[k]
		fmt.Fprintf(&b, "\n  %5.0f %s %s", counts[k], k.verb, k.resource)
		if k.subresource != "" {
			fmt.Fprintf(&b, "/%s", k.subresource)
		}
		fmt.Fprintf(&b, " %d", k.code)
	}
	t.Logf("API requests meanwhile: %.0f%s", total, b.String())
}
