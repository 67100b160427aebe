// Package testenv is what the envtest suites share: starting a real
// kube-apiserver and etcd from the binaries hack/envtest-bins.sh builds, and
// waiting for what the API server (or a cache) should come to show.
package testenv

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sprechzimmer/sprechzimmer/internal/envtestbins"
)

// Start finds the envtest binaries and starts env; call stop when done.
func Start(env *envtest.Environment) (cfg *rest.Config, stop func(), err error) {
	if err := envtestbins.Require(); err != nil {
		return nil, nil, err
	}
	if cfg, err = env.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return cfg, func() { _ = env.Stop() }, nil
}

// Eventually polls cond until it returns nil or 20 seconds have passed,
// like Gomega's Eventually: the API server is observed, not slept on.
func Eventually(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}
