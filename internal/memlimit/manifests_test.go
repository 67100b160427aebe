package memlimit_test

import (
	"path/filepath"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/memlimit"
)

// TestManifestsSetGoMemLimit checks every container of every Deployment
// under config/ that has a memory limit: its GOMEMLIMIT must be For(limit),
// so that a changed limit cannot leave the runtime's limit behind.
func TestManifestsSetGoMemLimit(t *testing.T) {
	containers, err := manifests.DeploymentContainers(filepath.Join("..", "..", "config", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range containers {
		limit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			continue
		}
		checked++
		want := strconv.FormatInt(memlimit.For(limit), 10)
		if got := env(c.Container, "GOMEMLIMIT"); got != want {
			t.Errorf("%s: Deployment %s, container %s: GOMEMLIMIT %q, want %s (%d %% of %s)", c.File, c.Deployment, c.Name, got, want, memlimit.Percent, limit.String())
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d containers; want the operator, the front door and the TURN server", checked)
	}
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}
