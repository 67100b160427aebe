package memlimit_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sprechzimmer/sprechzimmer/internal/memlimit"
)

// TestManifestsSetGoMemLimit checks every container of every Deployment
// under config/ that has a memory limit: its GOMEMLIMIT must be For(limit),
// so that a changed limit cannot leave the runtime's limit behind.
func TestManifestsSetGoMemLimit(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			var d appsv1.Deployment
			if err := yaml.Unmarshal(doc, &d); err != nil || d.Kind != "Deployment" {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				limit, ok := c.Resources.Limits[corev1.ResourceMemory]
				if !ok {
					continue
				}
				checked++
				want := strconv.FormatInt(memlimit.For(limit), 10)
				if got := env(c, "GOMEMLIMIT"); got != want {
					t.Errorf("%s: Deployment %s, container %s: GOMEMLIMIT %q, want %s (%d %% of %s)", file, d.Name, c.Name, got, want, memlimit.Percent, limit.String())
				}
			}
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
