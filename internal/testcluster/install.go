package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// RoomNamespace is the namespace Install makes for sessions, under the
// restricted Pod Security profile.
const RoomNamespace = "praxis"

// PublicHost is the public URL's host of config/overlays/single-node: a
// browser maps it to the front door's Service address.
const PublicHost = "sprechzimmer.test"

// FrontDoor names the front door's Service as the overlay installs it.
const (
	FrontDoorNamespace = "sprechzimmer-frontdoor"
	FrontDoorService   = "frontdoor"
)

// Install applies the product to the cluster exactly as docs/install.md
// tells a platform team: cert-manager, the shared TURN secret in both
// namespaces, config/overlays/single-node, a restricted namespace for the
// sessions; it returns once every Deployment is Available.
func (c *Cluster) Install(ctx context.Context) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if err := c.InstallCertManager(ctx); err != nil {
		return err
	}
	var steps [][]string
	for _, s := range []struct{ namespace, name string }{{"sprechzimmer-system", "sprechzimmer-turn"}, {"sprechzimmer-turn", "turn-shared-secret"}} {
		steps = append(steps,
			[]string{"create", "namespace", s.namespace},
			[]string{"-n", s.namespace, "create", "secret", "generic", s.name, "--from-literal=secret=" + base64.StdEncoding.EncodeToString(secret)})
	}
	if err := c.kubectlAll(ctx, steps); err != nil {
		return err
	}
	// cert-manager's own webhook takes a moment after it is Available to
	// be served with its injected CA; until then the apply is refused.
	overlay := filepath.Join(c.root, "config", "overlays", "single-node")
	if err := retry(ctx, 2*time.Minute, func() error { return c.Kubectl(ctx, "apply", "--server-side", "-k", overlay) }); err != nil {
		return err
	}
	steps = [][]string{
		{"create", "namespace", RoomNamespace},
		{"label", "--overwrite", "namespace", RoomNamespace, "pod-security.kubernetes.io/enforce=restricted"},
	}
	for _, ns := range []string{"sprechzimmer-system", FrontDoorNamespace, "sprechzimmer-turn"} {
		steps = append(steps, []string{"-n", ns, "wait", "--for=condition=Available", "deployment", "--all", "--timeout=300s"})
	}
	return c.kubectlAll(ctx, steps)
}

// InstallCertManager applies cert-manager (make addons) and waits until its
// Deployments are Available.
func (c *Cluster) InstallCertManager(ctx context.Context) error {
	return c.kubectlAll(ctx, [][]string{
		{"apply", "--server-side", "-f", filepath.Join(c.root, "bin", "addons", "cert-manager.yaml")},
		{"-n", "cert-manager", "wait", "--for=condition=Available", "deployment", "--all", "--timeout=300s"},
	})
}

// HelmRelease is the release name and namespace of InstallHelm.
const (
	HelmRelease          = "sprechzimmer"
	HelmReleaseNamespace = "sprechzimmer-system"
)

// InstallHelm installs the product with the Helm chart as docs/install.md
// says, with charts/sprechzimmer/ci/single-node-values.yaml (the settings of
// config/overlays/single-node) and the chart's own TURN shared secret:
// cert-manager, helm install --wait, a restricted namespace for the
// sessions. helm is bin/helm (hack/helm.sh).
func (c *Cluster) InstallHelm(ctx context.Context, helm string) error {
	if err := c.InstallCertManager(ctx); err != nil {
		return err
	}
	chart := filepath.Join(c.root, "charts", "sprechzimmer")
	// As the kustomize install: cert-manager's webhook may refuse the
	// Certificate for a few seconds after it is Available.
	err := retry(ctx, 2*time.Minute, func() error {
		return c.Helm(ctx, helm, "upgrade", "--install", HelmRelease, chart,
			"--namespace", HelmReleaseNamespace, "--create-namespace",
			"-f", filepath.Join(chart, "ci", "single-node-values.yaml"),
			"--set", "sharedSecret.create=true", "--wait", "--timeout=5m")
	})
	if err != nil {
		return err
	}
	return c.kubectlAll(ctx, [][]string{
		{"create", "namespace", RoomNamespace},
		{"label", "--overwrite", "namespace", RoomNamespace, "pod-security.kubernetes.io/enforce=restricted"},
	})
}

// UninstallHelm removes the release and waits until the namespaces the chart
// made are gone, so that another install can start from scratch.
func (c *Cluster) UninstallHelm(ctx context.Context, helm string) error {
	if err := c.Helm(ctx, helm, "uninstall", HelmRelease, "--namespace", HelmReleaseNamespace, "--wait", "--timeout=3m"); err != nil {
		return err
	}
	return c.Kubectl(ctx, "wait", "--for=delete", "namespace/"+FrontDoorNamespace, "namespace/sprechzimmer-turn", "--timeout=180s")
}

// Helm runs helm with args against the cluster as its admin; the error
// carries helm's output.
func (c *Cluster) Helm(ctx context.Context, helm string, args ...string) error {
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// kubectlAll runs kubectl once for each step, in order. A create of what
// is there already counts as done, so that Install on a cluster where it ran
// before (a reused one) finishes it rather than failing.
func (c *Cluster) kubectlAll(ctx context.Context, steps [][]string) error {
	for _, args := range steps {
		err := c.Kubectl(ctx, args...)
		existed := slices.Contains(args, "create") && err != nil && strings.Contains(err.Error(), "(AlreadyExists)")
		if err != nil && !existed {
			return err
		}
	}
	return nil
}

// Kubectl runs bin/kube/kubectl with args against the cluster as its
// admin; the error carries kubectl's output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "bin", "kube", "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w\n%s", redact(args), err, out.String())
	}
	return nil
}

// redact hides literal values (the TURN secret) from an error message.
func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if name, _, ok := strings.Cut(a, "--from-literal="); ok && name == "" {
			a = "--from-literal=<redacted>"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// retry calls f until it succeeds or within has passed, and returns its
// last error.
func retry(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

// PodReady reports whether p's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
