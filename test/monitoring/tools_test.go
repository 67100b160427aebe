// Package monitoring tests what config/prometheus and config/grafana give
// a platform team: the monitors and the rule are valid Prometheus Operator
// objects and select the components config/ installs, the alerts fire when
// they should and only then (promtool), and a real Prometheus scraping the
// local setup of `make run` answers every dashboard query, with no series
// naming a session.
package monitoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// need returns the path of the program name, from PATH or, with a slash,
// relative to the repository; without it the test skips, or fails in CI
// (.ci/run installs and builds everything).
func need(t *testing.T, name, installedBy string) string {
	t.Helper()
	path := name
	if filepath.Base(name) != name {
		path = filepath.Join(repo(t), name)
	}
	found, err := exec.LookPath(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (%s): %v", name, installedBy, err)
		}
		t.Skipf("%s is missing (%s): %v", name, installedBy, err)
	}
	return found
}

// repo is the repository's root.
func repo(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// kustomize renders a kustomization of config/ with the kubectl that
// `make kube` builds, into its objects.
func kustomize(t *testing.T, dir string) []map[string]any {
	t.Helper()
	kubectl := need(t, "bin/kube/kubectl", "make kube")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(repo(t), dir)).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	var objs []map[string]any
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs
}

// ofKind returns the objects of kind.
func ofKind(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

// field walks obj along keys (map keys, or int indexes into lists).
func field(obj any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := obj.(map[string]any)
			obj = m[k]
		case int:
			l, _ := obj.([]any)
			if k >= len(l) {
				return nil
			}
			obj = l[k]
		}
	}
	return obj
}

// str is field as a string.
func str(obj any, keys ...any) string {
	s, _ := field(obj, keys...).(string)
	return s
}

// metricSelector finds the metric names in PromQL: every selector in the
// project's expressions has braces.
var metricSelector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// metricNames returns the metric names the expressions select, sorted.
func metricNames(exprs ...string) []string {
	var names []string
	for _, e := range exprs {
		for _, m := range metricSelector.FindAllStringSubmatch(e, -1) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
