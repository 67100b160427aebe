package monitoring

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// TestMonitoringObjectsAreValid creates every object of config/prometheus
// on an API server that has the Prometheus Operator's CRDs (pinned,
// hack/prometheus-operator-crds.sh), as a server-side dry run with strict
// field validation: a misspelt or deprecated-and-removed field, a wrong
// type or a value the CRD's schema refuses fails here.
func TestMonitoringObjectsAreValid(t *testing.T) {
	crds := filepath.Join(repo(t), "bin", "prometheus-operator-crds")
	if _, err := os.Stat(filepath.Join(crds, "monitoring.coreos.com_servicemonitors.yaml")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Prometheus Operator's CRDs are missing (make prometheus-crds): %v", err)
		}
		t.Skipf("the Prometheus Operator's CRDs are missing (make prometheus-crds): %v", err)
	}
	objs := kustomize(t, "config/prometheus")
	env := &envtest.Environment{CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true, ControlPlaneStartTimeout: 2 * time.Minute}
	cfg, stop, err := testenv.Start(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c, err := client.New(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	namespaces := map[string]bool{}
	for _, o := range objs {
		if ns := str(o, "metadata", "namespace"); ns != "" && !namespaces[ns] {
			namespaces[ns] = true
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	kinds := map[string]int{}
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		kinds[u.GetKind()]++
		if err := c.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
			t.Errorf("%s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	for kind, want := range map[string]int{"ServiceMonitor": 3, "PodMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1} {
		if kinds[kind] != want {
			t.Errorf("config/prometheus has %d %s, want %d", kinds[kind], kind, want)
		}
	}
}

// TestMonitorsSelectTheComponents checks config/prometheus against what
// config/overlays/all-in-one installs and what the operator makes for a
// room: each ServiceMonitor selects a Service of its namespace with the
// port it scrapes; the operator's is verified with the CA and name of the
// metrics certificate the manager serves, and authenticates with a token
// bound to the role that may get /metrics; the PodMonitor selects a room's
// Pod by the labels the operator gives it, on its port, and drops the
// labels that would name the session.
func TestMonitorsSelectTheComponents(t *testing.T) {
	installed := kustomize(t, "config/overlays/all-in-one")
	monitoring := kustomize(t, "config/prometheus")

	for _, sm := range ofKind(monitoring, "ServiceMonitor") {
		name := str(sm, "metadata", "name")
		selector, _ := field(sm, "spec", "selector", "matchLabels").(map[string]any)
		var ports []string
		for _, svc := range ofKind(installed, "Service") {
			if str(svc, "metadata", "namespace") == str(sm, "metadata", "namespace") && matches(selector, field(svc, "metadata", "labels")) {
				for _, p := range field(svc, "spec", "ports").([]any) {
					ports = append(ports, str(p, "name"))
				}
			}
		}
		if len(ports) == 0 {
			t.Errorf("ServiceMonitor %s selects no Service of config/ in its namespace", name)
		}
		for _, ep := range field(sm, "spec", "endpoints").([]any) {
			if !slices.Contains(ports, str(ep, "port")) {
				t.Errorf("ServiceMonitor %s scrapes port %q; the Services it selects have %v", name, str(ep, "port"), ports)
			}
			if field(ep, "bearerTokenFile") != nil || field(ep, "tlsConfig", "insecureSkipVerify") == true {
				t.Errorf("ServiceMonitor %s uses bearerTokenFile or insecureSkipVerify", name)
			}
		}
	}

	t.Run("the operator's scrape is verified and authorized", func(t *testing.T) {
		sm := named(t, monitoring, "ServiceMonitor", "sprechzimmer-operator")
		ep := field(sm, "spec", "endpoints", 0)
		cert := named(t, installed, "Certificate", "sprechzimmer-metrics-certs")
		if got, want := str(ep, "tlsConfig", "serverName"), str(cert, "spec", "dnsNames", 0); got != want || want == "" {
			t.Errorf("serverName %q, the metrics certificate's name %q", got, want)
		}
		if got, want := str(ep, "tlsConfig", "ca", "secret", "name"), str(cert, "spec", "secretName"); got != want {
			t.Errorf("the CA comes from Secret %q, the metrics certificate is in %q", got, want)
		}
		deployment := named(t, installed, "Deployment", "sprechzimmer-controller-manager")
		if !strings.Contains(fmt.Sprint(field(deployment, "spec", "template", "spec", "containers", 0, "args")), "--metrics-cert-dir=") ||
			!strings.Contains(fmt.Sprint(field(deployment, "spec", "template", "spec", "volumes")), "secretName:"+str(cert, "spec", "secretName")) {
			t.Errorf("the manager does not serve its metrics with the certificate in %s", str(cert, "spec", "secretName"))
		}
		if str(ep, "authorization", "type") != "Bearer" {
			t.Fatalf("authorization %v, want a Bearer token", field(ep, "authorization"))
		}
		token := named(t, monitoring, "Secret", str(ep, "authorization", "credentials", "name"))
		account := str(token, "metadata", "annotations", "kubernetes.io/service-account.name")
		if str(token, "type") != string(corev1.SecretTypeServiceAccountToken) || str(token, "metadata", "namespace") != str(sm, "metadata", "namespace") {
			t.Errorf("the token Secret is of type %q in %q, want a service account token in the ServiceMonitor's namespace", str(token, "type"), str(token, "metadata", "namespace"))
		}
		named(t, monitoring, "ServiceAccount", account)
		binding := named(t, monitoring, "ClusterRoleBinding", "sprechzimmer-metrics-reader")
		if str(binding, "subjects", 0, "name") != account || str(binding, "subjects", 0, "namespace") != str(token, "metadata", "namespace") {
			t.Errorf("the binding's subject is %v, want the token's ServiceAccount %s", field(binding, "subjects"), account)
		}
		role := named(t, installed, "ClusterRole", str(binding, "roleRef", "name"))
		if got := fmt.Sprint(field(role, "rules")); !strings.Contains(got, "/metrics") || !strings.Contains(got, "get") {
			t.Errorf("the bound ClusterRole's rules %s do not grant get on /metrics", got)
		}
	})

	t.Run("the rooms' PodMonitor selects a room and names no session", func(t *testing.T) {
		pm := named(t, monitoring, "PodMonitor", "sprechzimmer-rooms")
		room := &videov1alpha1.VideoSession{ObjectMeta: metav1.ObjectMeta{Name: "appointment", Namespace: "praxis"}}
		labels := map[string]any{}
		for k, v := range roomcontract.Labels(room) {
			labels[k] = v
		}
		if selector, _ := field(pm, "spec", "selector", "matchLabels").(map[string]any); len(selector) == 0 || !matches(selector, labels) {
			t.Errorf("the PodMonitor's selector %v does not select a room's labels %v", selector, labels)
		}
		ep := field(pm, "spec", "podMetricsEndpoints", 0)
		if str(ep, "port") != roomcontract.PortName {
			t.Errorf("the PodMonitor scrapes port %q, a room's is %q", str(ep, "port"), roomcontract.PortName)
		}
		var dropped []string
		for _, r := range field(ep, "relabelings").([]any) {
			if str(r, "action") == "labeldrop" {
				re := regexp.MustCompile("^(?:" + str(r, "regex") + ")$")
				for _, l := range []string{"namespace", "pod", "container"} {
					if re.MatchString(l) {
						dropped = append(dropped, l)
					}
				}
			}
		}
		if !slices.Contains(dropped, "namespace") || !slices.Contains(dropped, "pod") {
			t.Errorf("the PodMonitor drops %v; the namespace and pod labels name the session", dropped)
		}
	})
}

// matches reports whether labels has every key and value of selector.
func matches(selector map[string]any, labels any) bool {
	l, _ := labels.(map[string]any)
	for k, v := range selector {
		if l[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// named returns the object of kind and name, or fails.
func named(t *testing.T, objs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, o := range ofKind(objs, kind) {
		if str(o, "metadata", "name") == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}
