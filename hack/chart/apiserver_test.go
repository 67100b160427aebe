package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// gatewayAPI is the Gateway API release whose CRDs the HTTPRoute is
// validated against (from the Go module proxy; v1.7 needs Go 1.27).
const gatewayAPI = "sigs.k8s.io/gateway-api@v1.6.3"

// optionalGroups are API groups whose CRDs this test does not install: the
// Prometheus Operator's. Objects of them are left out, and the test says so.
var optionalGroups = []string{"monitoring.coreos.com"}

// TestChartValidatesAgainstAPIServer renders the chart with several sets
// of values and applies every object server-side with dry run against a
// real kube-apiserver (envtest) that has the VideoSession, cert-manager
// and Gateway API CRDs: what the cluster would refuse, this refuses.
func TestChartValidatesAgainstAPIServer(t *testing.T) {
	crds := t.TempDir()
	writeCertManagerCRDs(t, crds)
	copyGatewayCRDs(t, crds)
	dirs := []string{filepath.Join(root, "config", "crd", "bases"), crds}
	// The Prometheus Operator's CRDs, where make prometheus-crds fetched them.
	if prom := filepath.Join(root, "bin", "prometheus-operator-crds"); dirExists(prom) {
		dirs = append(dirs, prom)
	}
	env := &envtest.Environment{CRDDirectoryPaths: dirs, ErrorIfCRDPathMissing: true, ControlPlaneStartTimeout: 2 * time.Minute}
	cfg, stop, err := testenv.Start(env)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tests := []struct {
		name string
		args []string
	}{
		{"defaults", nil},
		{"single-node, shared secret", []string{"-f", filepath.Join(chartDir, "ci", "single-node-values.yaml"), "--set", "sharedSecret.create=true"}},
		{"everything set", []string{
			"--set", "watchNamespaces={praxis-a}", "--set", "imagePullSecrets[0].name=pull",
			"--set", "operator.priorityClassName=system-cluster-critical", "--set", "operator.tolerations[0].operator=Exists",
			"--set-string", "turn.nodeSelector.edge=true", "--set", "turn.publicIP=203.0.113.10",
			"--set", "webhook.certificate.source=secret", "--set", "webhook.certificate.caBundle=Q0E=",
			"--set", "ingress.enabled=false", "--set", "httpRoute.enabled=true",
			"--set-json", `httpRoute.parentRefs=[{"name":"public","namespace":"gateway-system","sectionName":"https"}]`,
		}},
		{"monitoring", []string{"--set", "monitoring.enabled=true"}},
		{"cert-manager ClusterIssuer", []string{"--set", "webhook.certificate.issuerRef.kind=ClusterIssuer", "--set", "webhook.certificate.issuerRef.name=company-ca"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := helmTemplate(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			// Namespaces for real: a dry-run object needs its namespace (the
			// watched one is the platform team's, not the chart's).
			for _, ns := range []string{releaseNamespace, "sprechzimmer-frontdoor", "sprechzimmer-turn", "praxis-a"} {
				u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}}
				if err := c.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
			applied := 0
			for _, o := range objs {
				u := &unstructured.Unstructured{Object: o}
				gvk := u.GroupVersionKind()
				if _, err := c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); apimeta.IsNoMatchError(err) && isOptional(gvk.Group) {
					t.Logf("%s: left out, the test installs no CRD of %s", key(o), gvk.Group)
					continue
				}
				err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("chart-test"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s: %v", key(o), err)
				}
				applied++
			}
			if applied < 20 {
				t.Errorf("only %d objects applied", applied)
			}
		})
	}
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func isOptional(group string) bool {
	for _, g := range optionalGroups {
		if group == g {
			return true
		}
	}
	return false
}

// writeCertManagerCRDs copies the CRDs out of bin/addons/cert-manager.yaml
// (make addons) into dir.
func writeCertManagerCRDs(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "bin", "addons", "cert-manager.yaml"))
	if err != nil {
		t.Fatalf("cert-manager's manifest (make addons): %v", err)
	}
	objs, err := Split(data)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range objs {
		if str(o, "kind") != "CustomResourceDefinition" {
			continue
		}
		out, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, str(o, "metadata", "name")+".json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 6 {
		t.Fatalf("%d cert-manager CRDs in bin/addons/cert-manager.yaml", n)
	}
}

// copyGatewayCRDs copies the standard channel's HTTPRoute and Gateway CRDs
// from the gateway-api module into dir.
func copyGatewayCRDs(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", gatewayAPI)
	cmd.Dir = t.TempDir() // outside the project's module: never its dependency
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", gatewayAPI, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", gatewayAPI, err, mod.Error)
	}
	for _, name := range []string{"httproutes", "gateways", "gatewayclasses"} {
		data, err := os.ReadFile(filepath.Join(mod.Dir, "config", "crd", "standard", "gateway.networking.k8s.io_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(data, &crd); err != nil || !strings.HasSuffix(str(crd, "metadata", "name"), "gateway.networking.k8s.io") {
			t.Fatalf("%s: not a Gateway API CRD (%v)", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "gateway-"+name+".yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
