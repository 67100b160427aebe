package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
)

// turnObjects renders a kustomization and returns the TURN server's
// Deployment, PodDisruptionBudget and TLS Service, and the secretName of
// its Certificate.
func turnObjects(t *testing.T, dir string) (appsv1.Deployment, policyv1.PodDisruptionBudget, corev1.Service, string) {
	t.Helper()
	kubectl := filepath.Join("..", "..", "bin", "kube", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Skipf("no %s (make kube): %v", kubectl, err)
	}
	objs, err := manifests.Kustomize(context.Background(), kubectl, filepath.Join("..", "..", dir))
	if err != nil {
		t.Fatal(err)
	}
	var (
		dep        appsv1.Deployment
		pdb        policyv1.PodDisruptionBudget
		svc        corev1.Service
		certSecret string
	)
	into := func(o *unstructured.Unstructured, out any) {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if o.GetNamespace() != "sprechzimmer-turn" {
			continue
		}
		switch o.GetKind() + "/" + o.GetName() {
		case "Deployment/turn":
			into(o, &dep)
		case "PodDisruptionBudget/turn":
			into(o, &pdb)
		case "Service/turn":
			into(o, &svc)
		case "Certificate/turn-tls":
			certSecret, _, _ = unstructured.NestedString(o.Object, "spec", "secretName")
		}
	}
	if dep.Name == "" || pdb.Name == "" || svc.Name == "" || certSecret == "" {
		t.Fatalf("%s lacks the TURN Deployment, PodDisruptionBudget, Service turn or Certificate turn-tls", dir)
	}
	return dep, pdb, svc, certSecret
}

// TestDeploymentKeepsOneServing checks config/turn for what keeps TURN up
// through a rollout or a node drain: two replicas on two nodes (host ports
// allow one per node), replaced one at a time, at most one evicted at a
// time, and TURN over TLS on 443 through a Service that sends new
// connections only to ready (not draining) Pods; the single-node overlay
// keeps one replica.
func TestDeploymentKeepsOneServing(t *testing.T) {
	dep, pdb, svc, certSecret := turnObjects(t, "config/turn")
	pod := dep.Spec.Template

	if got := *dep.Spec.Replicas; got != 2 {
		t.Errorf("replicas %d, want 2", got)
	}
	ru := dep.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable.IntValue() != 1 {
		t.Errorf("rolling update %+v, want maxSurge 0 (host ports) and maxUnavailable 1", ru)
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatal("no required pod anti-affinity: two replicas could land on one node and fight over its ports")
	}
	term := aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector); err != nil || term.TopologyKey != "kubernetes.io/hostname" || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("anti-affinity %+v does not keep the Pods on different nodes", term)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1: one replica serves while the other is evicted", pdb.Spec.MaxUnavailable)
	}
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Error("the PodDisruptionBudget does not select the TURN Pods")
	}

	c := pod.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("no /readyz readiness probe: a draining Pod would keep getting TLS connections")
	}
	// TURN over TLS: 443 on the Service, to the container's TLS port.
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("Service turn is %s/%s, want a LoadBalancer of its own with externalTrafficPolicy Local (client addresses kept)", svc.Spec.Type, svc.Spec.ExternalTrafficPolicy)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
		t.Error("Service turn does not select the TURN Pods")
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 {
		t.Fatalf("Service turn ports %+v, want 443", svc.Spec.Ports)
	}
	target := svc.Spec.Ports[0].TargetPort.String()
	var tlsPort int32
	for _, p := range c.Ports {
		if p.Name == target {
			tlsPort = p.ContainerPort
		}
	}
	if tlsPort == 0 || !slices.Contains(c.Args, "-listen-tls=:"+strconv.Itoa(int(tlsPort))) {
		t.Errorf("Service turn targets port %q (%d), which -listen-tls in %v does not serve", target, tlsPort, c.Args)
	}
	// The certificate files come from the Certificate's Secret.
	var certFile string
	for _, a := range c.Args {
		if f, ok := strings.CutPrefix(a, "-tls-cert-file="); ok {
			certFile = f
		}
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == certSecret && filepath.Dir(certFile) == m.MountPath {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("-tls-cert-file=%s is not in a mount of the Certificate's Secret %s", certFile, certSecret)
	}

	single, _, _, _ := turnObjects(t, "config/overlays/single-node")
	if got := *single.Spec.Replicas; got != 1 {
		t.Errorf("config/overlays/single-node: replicas %d, want 1 (one node)", got)
	}
}
