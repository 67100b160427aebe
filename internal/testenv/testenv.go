// Package testenv is the envtest harness: it finds (or builds) the
// kube-apiserver and etcd that hack/envtest-bins.sh makes, starts them for a
// test suite (Main), runs a suite's controllers in the background (Go) and
// waits for what the API server (or a cache) should come to show
// (Eventually). The tests, the operator benchmark and the local setup use
// the same binaries through it.
package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start finds the envtest binaries and starts env; call stop when done.
func Start(env *envtest.Environment) (cfg *rest.Config, stop func(), err error) {
	if err := Require(); err != nil {
		return nil, nil, err
	}
	if cfg, err = env.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return cfg, func() { _ = env.Stop() }, nil
}

// Main is the TestMain of an envtest suite: it starts env, hands the API
// server's config to setup, runs the tests, stops env and exits with the
// tests' code. setup may start goroutines on ctx, which ends when the tests
// are done; nil setup does nothing. A failed start or setup exits with 1.
func Main(m *testing.M, env *envtest.Environment, setup func(ctx context.Context, cfg *rest.Config) error) {
	os.Exit(run(m, env, setup))
}

func run(m *testing.M, env *envtest.Environment, setup func(context.Context, *rest.Config) error) int {
	cfg, stop, err := Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if setup != nil {
		if err := setup(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// Go runs start (a manager's or a cache's Start) in the background until
// the test ends or stop is called, whichever comes first; stop returns once
// start has returned. An error from start fails the test, named by what.
func Go(t testing.TB, what string, start func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := start(ctx); err != nil {
			t.Errorf("%s stopped: %v", what, err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// Eventually polls cond until it returns nil or 20 seconds have passed,
// like Gomega's Eventually: the API server is observed, not slept on.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	EventuallyWithin(t, what, 20*time.Second, cond)
}

// EventuallyWithin is Eventually with its own bound, for what takes a real
// node minutes (Pods pulled, started, collected); it asks less often the
// longer it may wait.
func EventuallyWithin(t testing.TB, what string, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	interval := min(max(within/800, 25*time.Millisecond), time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("%s: %v", what, err)
}

// queueTickers are the tickers client-go's work queue keeps on its clock
// while it runs: the delaying queue's heartbeat and the unfinished-work
// metric's. A waiter beyond them is the timer of a delayed item.
const queueTickers = 2

// SetQueueTime moves an operator's fake clock to at, once the operator's
// work queue holds a deadline (a timer besides the queue's tickers): the
// queue measures a RequeueAfter from its clock's time when the reconcile
// returns, so moving the clock before that would move the deadline too.
func SetQueueTime(t testing.TB, clk *testingclock.FakeClock, at time.Time) {
	t.Helper()
	Eventually(t, "a deadline in the operator's work queue", func() error {
		if n := clk.Waiters(); n <= queueTickers {
			return fmt.Errorf("%d waiters on the clock, want the queue's %d tickers and a timer", n, queueTickers)
		}
		return nil
	})
	clk.SetTime(at)
}
