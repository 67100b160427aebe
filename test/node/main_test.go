package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sprechzimmer/sprechzimmer/internal/testcluster"
)

// cluster is the one real node all tests of this package share: brought up
// by TestMain (or found up already, then left up) and taken down after the
// last test. upErr says why there is none.
var (
	cluster *testcluster.Cluster
	upErr   error
)

func TestMain(m *testing.M) {
	// controller-runtime's client logs only its own errors.
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if upErr = testcluster.Supported(); upErr == nil {
		cluster, upErr = testcluster.Up(context.Background())
	}
	code := m.Run()
	if cluster != nil && !cluster.Reused {
		if err := cluster.Down(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "taking the node down: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needCluster returns the shared node, or skips t where this host cannot
// run one and fails it where it could but bringing it up failed.
func needCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	switch {
	case cluster != nil:
		return cluster
	case testcluster.Supported() != nil:
		t.Skipf("this host cannot run the real node: %v", upErr)
	default:
		t.Fatalf("bringing up the node: %v", upErr)
	}
	return nil
}
