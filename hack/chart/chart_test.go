package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/sprechzimmer/sprechzimmer/internal/memlimit"
)

// root is the repository, two levels up from hack/chart.
var root = filepath.Join("..", "..")

// chartDir is the chart the tests render.
var chartDir = filepath.Join(root, "charts", "sprechzimmer")

// kubectlBin is bin/kube/kubectl (make kube), for kubectl kustomize.
func kubectlBin(t *testing.T) string {
	t.Helper()
	path, _ := filepath.Abs(filepath.Join(root, "bin", "kube", "kubectl"))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: build it with make kube (make test does)", path)
	}
	return path
}

// helmBin is bin/helm, built by hack/helm.sh on first use (make helm).
func helmBin(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "hack", "helm.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/helm.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// helmTemplate renders the chart as `helm install --namespace
// sprechzimmer-system` would, CRDs included, with the values files and
// --set flags given.
func helmTemplate(t *testing.T, args ...string) ([]Object, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), append([]string{"template", "sprechzimmer", chartDir,
		"--namespace", releaseNamespace, "--include-crds"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return Split(out)
}

// kustomize builds the directories under root, as the chart's counterpart:
// without the operator's Namespace (the release's) and without the
// namespace kustomize gives cluster-scoped objects.
func kustomize(t *testing.T, dirs ...string) []Object {
	t.Helper()
	var all []Object
	for _, dir := range dirs {
		objs, err := Build(kubectlBin(t), filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if str(o, "kind") == "Namespace" && str(o, "metadata", "name") == releaseNamespace {
				continue
			}
			if slices.Contains(ClusterScoped, str(o, "kind")) {
				delete(meta(o), "namespace")
			}
			all = append(all, o)
		}
	}
	return all
}

func key(o Object) string {
	return str(o, "kind") + " " + str(o, "metadata", "namespace") + "/" + str(o, "metadata", "name")
}

// byKey indexes objects, normalised through JSON (Helm's and kustomize's
// YAML may differ in quoting, not in value).
func byKey(t *testing.T, objs []Object) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var n any
		if err := yaml.Unmarshal(data, &n); err != nil {
			t.Fatal(err)
		}
		if _, dup := m[key(o)]; dup {
			t.Errorf("%s twice", key(o))
		}
		m[key(o)] = n
	}
	return m
}

// TestChartIsCurrent fails when charts/sprechzimmer's generated files are
// not what hack/chart makes of config/ now (make verify-chart).
func TestChartIsCurrent(t *testing.T) {
	if err := run(kubectlBin(t), root, true); err != nil {
		t.Fatal(err)
	}
}

// TestHelmMatchesKustomize renders the chart and the kustomize directories
// it stands for and compares them object by object: the defaults are
// all-in-one, the single-node values are the single-node overlay, the
// HTTPRoute is config/frontdoor/gateway's, watched namespaces are the
// watch-namespaces overlay.
func TestHelmMatchesKustomize(t *testing.T) {
	tests := []struct {
		name      string
		helmArgs  []string
		kustomize []string
		notInHelm []string // keys of kustomize objects the chart leaves out on purpose
	}{
		{"defaults", nil, []string{"config/overlays/all-in-one"}, nil},
		{"single-node", []string{"-f", filepath.Join(chartDir, "ci", "single-node-values.yaml")}, []string{"config/overlays/single-node"}, nil},
		{"gateway", []string{"--set", "httpRoute.enabled=true", "--set-json", `httpRoute.parentRefs=[{"name":"public","namespace":"gateway-system","sectionName":"https"}]`},
			[]string{"config/overlays/all-in-one", "config/frontdoor/gateway"}, nil},
		{"monitoring", []string{"--set", "monitoring.enabled=true"}, []string{"config/overlays/all-in-one", "config/prometheus"}, nil},
		// The chart binds the roles in the watched namespaces but does not
		// create those namespaces (an uninstall would delete their sessions).
		{"watch-namespaces", []string{"--set", "watchNamespaces={praxis-a}"}, []string{"config/overlays/watch-namespaces"}, []string{"Namespace /praxis-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := helmTemplate(t, tt.helmArgs...)
			if err != nil {
				t.Fatal(err)
			}
			got, want := byKey(t, objs), byKey(t, kustomize(t, tt.kustomize...))
			for _, k := range tt.notInHelm {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: not in kustomize's output, so nothing to leave out", k)
				}
				delete(want, k)
			}
			var keys []string
			for k := range want {
				keys = append(keys, k)
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				g, inHelm := got[k]
				w, inKustomize := want[k]
				switch {
				case !inHelm:
					t.Errorf("%s: kustomize has it, the chart does not", k)
				case !inKustomize:
					t.Errorf("%s: the chart has it, kustomize does not", k)
				case !reflect.DeepEqual(g, w):
					gy, _ := yaml.Marshal(g)
					wy, _ := yaml.Marshal(w)
					t.Errorf("%s differs:\n--- helm\n%s\n--- kustomize\n%s", k, gy, wy)
				}
			}
			if len(keys) < 20 {
				t.Errorf("only %d objects compared", len(keys))
			}
		})
	}
}

// TestChartValues renders values a platform team sets and checks the
// objects carry them.
func TestChartValues(t *testing.T) {
	objs, err := helmTemplate(t,
		"--set", "publicBaseURL=https://video.praxis.example",
		"--set", "image.registry=registry.praxis.example", "--set", "image.repository=mirror/sz", "--set", "image.tag=v9.9.9",
		"--set", "imagePullSecrets[0].name=pull",
		"--set", "watchNamespaces={praxis-a,praxis-b}",
		"--set", "operator.resources.limits.memory=1Gi",
		"--set", "operator.priorityClassName=system-cluster-critical",
		"--set-string", "turn.nodeSelector.edge=true",
		"--set", "turn.publicIP=203.0.113.10",
		"--set", "webhook.certificate.source=secret", "--set", "webhook.certificate.secretName=my-cert", "--set", "webhook.certificate.caBundle=Q0E=",
		"--set", "ingress.enabled=false",
		"--set", "sharedSecret.create=true",
	)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Object{}
	for _, o := range objs {
		m[key(o)] = o
	}
	deployment := func(k string) *appsv1.Deployment {
		o, ok := m[k]
		if !ok {
			t.Fatalf("no %s", k)
		}
		data, _ := yaml.Marshal(o)
		var d appsv1.Deployment
		if err := yaml.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		return &d
	}
	op := deployment("Deployment sprechzimmer-system/sprechzimmer-controller-manager")
	c := op.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--public-base-url=https://video.praxis.example", "--namespace=praxis-a", "--namespace=praxis-b",
		"--signaling-image=registry.praxis.example/mirror/sz/signaling:v9.9.9"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("manager args %v lack %s", c.Args, want)
		}
	}
	if c.Image != "registry.praxis.example/mirror/sz/manager:v9.9.9" {
		t.Errorf("manager image %s", c.Image)
	}
	if want := strconv.FormatInt(memlimit.For(resource.MustParse("1Gi")), 10); env(c.Env, "GOMEMLIMIT") != want {
		t.Errorf("GOMEMLIMIT %s with a 1Gi limit, want %s", env(c.Env, "GOMEMLIMIT"), want)
	}
	if op.Spec.Template.Spec.PriorityClassName != "system-cluster-critical" || len(op.Spec.Template.Spec.ImagePullSecrets) != 1 {
		t.Errorf("priorityClassName %q, imagePullSecrets %v", op.Spec.Template.Spec.PriorityClassName, op.Spec.Template.Spec.ImagePullSecrets)
	}
	for _, v := range op.Spec.Template.Spec.Volumes {
		if v.Name == "cert" && v.Secret.SecretName != "my-cert" {
			t.Errorf("webhook cert volume from %s, want my-cert", v.Secret.SecretName)
		}
	}
	fd := deployment("Deployment sprechzimmer-frontdoor/frontdoor").Spec.Template.Spec.Containers[0]
	if !slices.Contains(fd.Args, "--namespace=praxis-a") {
		t.Errorf("front door args %v do not watch praxis-a", fd.Args)
	}
	turn := deployment("Deployment sprechzimmer-turn/turn")
	if turn.Spec.Template.Spec.NodeSelector["edge"] != "true" || env(turn.Spec.Template.Spec.Containers[0].Env, "PUBLIC_IP") != "203.0.113.10" {
		t.Errorf("turn nodeSelector %v, PUBLIC_IP %q", turn.Spec.Template.Spec.NodeSelector, env(turn.Spec.Template.Spec.Containers[0].Env, "PUBLIC_IP"))
	}
	for _, k := range []string{"Certificate sprechzimmer-system/sprechzimmer-serving-cert", "Ingress sprechzimmer-frontdoor/frontdoor"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s rendered although switched off", k)
		}
	}
	hooks := m["ValidatingWebhookConfiguration /sprechzimmer-validating-webhook-configuration"]
	if got := fmt.Sprint(hooks["webhooks"]); !strings.Contains(got, "caBundle:Q0E=") || meta(hooks)["annotations"] != nil {
		t.Errorf("validating webhook without the given CA bundle or with cert-manager's annotation: %v", hooks)
	}
	a, b := m["Secret sprechzimmer-system/sprechzimmer-turn"], m["Secret sprechzimmer-turn/turn-shared-secret"]
	if a == nil || b == nil || str(a, "data", "secret") == "" || str(a, "data", "secret") != str(b, "data", "secret") {
		t.Errorf("the shared secret is not one value in both namespaces: %v %v", a, b)
	}
}

func env(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestChartRefusesBadValues: a bad value fails the render with an error
// naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	tests := []struct {
		set   []string
		field string
	}{
		{[]string{"image.pullPolicy=Sometimes"}, "pullPolicy"},
		{[]string{"publicBaseURL=video.example.org"}, "publicBaseURL"},
		{[]string{"publicBaseURL="}, "publicBaseURL"},
		{[]string{"operator.resources.limits.memory=lots"}, "memory"},
		{[]string{"webhook.certificate.source=vault"}, "source"},
		{[]string{"webhook.certificate.source=secret"}, "caBundle"},
		{[]string{"turn.urls=null"}, "urls"},
		{[]string{"turn.clusterCIDRs={10.0.0.0}"}, "clusterCIDRs"},
		{[]string{"httpRoute.enabled=true"}, "parentRefs"},
		{[]string{"operator.replica=3"}, "replica"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.set, ","), func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			_, err := helmTemplate(t, args...)
			if err == nil {
				t.Fatalf("rendered with %v", tt.set)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("the error does not name %s: %v", tt.field, err)
			}
		})
	}
}

// TestHelmLint: helm lint passes with the defaults and the single-node values.
func TestHelmLint(t *testing.T) {
	for _, values := range [][]string{nil, {"-f", filepath.Join(chartDir, "ci", "single-node-values.yaml")}} {
		out, err := exec.Command(helmBin(t), append([]string{"lint", "--strict", chartDir}, values...)...).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint %v: %v\n%s", values, err, out)
		}
	}
}
