package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// notServedHere are the kinds of config/ whose CRDs envtest does not have
// (cert-manager's, the Prometheus Operator's); everything else an overlay
// renders must pass the API server's validation.
var notServedHere = []string{"Certificate", "Issuer", "ClusterIssuer", "ServiceMonitor", "PodMonitor", "PrometheusRule"}

// TestOverlaysPassServerSideDryRun applies every object of each overlay to
// the API server with a server-side dry run: NetworkPolicies, PDBs,
// Deployments with their topology spread and the RBAC are valid against the
// API server's schemas, and single-node still renders and validates with
// the policies and budgets added.
func TestOverlaysPassServerSideDryRun(t *testing.T) {
	for _, overlay := range []string{"all-in-one", "single-node", "watch-namespaces"} {
		t.Run(overlay, func(t *testing.T) {
			objs := render(t, overlay)
			install(t, objs, "Namespace")
			kinds := map[string]int{}
			for _, o := range objs {
				if slices.Contains(notServedHere, o.GetKind()) {
					continue
				}
				err := k8sClient.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
					client.DryRunAll, client.FieldOwner("overlay-dry-run"), client.ForceOwnership)
				if err != nil {
					t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
				kinds[o.GetKind()]++
			}
			for kind, want := range map[string]int{"NetworkPolicy": 2, "PodDisruptionBudget": 3, "Deployment": 3} {
				if kinds[kind] < want {
					t.Errorf("%d %s objects, want at least %d", kinds[kind], kind, want)
				}
			}
		})
	}
}

// endpoint is one end of a connection: a Pod (its namespace, labels and
// ports) or, with ns nil, something outside the Pod network (a browser,
// the API server, a node).
type endpoint struct {
	name   string
	ns     *corev1.Namespace
	labels map[string]string
	ports  []corev1.ContainerPort
}

// flow is one connection attempt and whether the policies must let it through.
type flow struct {
	from, to *endpoint
	port     int32
	protocol corev1.Protocol
	allowed  bool
}

// checkNetworkPolicies evaluates the rendered NetworkPolicies as an
// enforcing CNI plugin would, for the labels of the real objects: the room
// Pod the operator made, the Pod templates of the rendered Deployments, the
// namespaces as the API server labels them.
func checkNetworkPolicies(t *testing.T, objs []*unstructured.Unstructured, roomPod *corev1.Pod) {
	ctx := context.Background()
	namespace := func(name string) *corev1.Namespace {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := k8sClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if err := k8sClient.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
			t.Fatal(err)
		}
		return ns
	}
	fromTemplate := func(name string) *endpoint {
		d := deployment(t, objs, name)
		return &endpoint{name: name, ns: namespace(d.Namespace), labels: d.Spec.Template.Labels, ports: d.Spec.Template.Spec.Containers[0].Ports}
	}
	var (
		room       = &endpoint{name: "room", ns: namespace(roomPod.Namespace), labels: roomPod.Labels, ports: roomPod.Spec.Containers[0].Ports}
		otherRoom  = &endpoint{name: "another room", ns: room.ns, labels: room.labels}
		door       = fromTemplate("frontdoor")
		manager    = fromTemplate("sprechzimmer-controller-manager")
		prometheus = &endpoint{name: "prometheus", ns: namespace("monitoring"), labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
		stranger   = &endpoint{name: "a pod elsewhere", ns: namespace(newNamespace(t)), labels: map[string]string{"app": "web"},
			ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}
		dns     = &endpoint{name: "kube-dns", ns: namespace("kube-system"), labels: map[string]string{"k8s-app": "kube-dns"}}
		outside = &endpoint{name: "outside the Pod network"}
	)
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	flows := []flow{
		{door, room, 8080, tcp, true},
		{prometheus, room, 8080, tcp, true},
		{stranger, room, 8080, tcp, false},
		{otherRoom, room, 8080, tcp, false},
		{manager, room, 8080, tcp, false},
		{outside, room, 8080, tcp, false},
		{outside, door, 8080, tcp, true},
		{stranger, door, 8080, tcp, true},
		{stranger, door, 9090, tcp, false},
		{prometheus, door, 9090, tcp, true},
		{door, stranger, 8080, tcp, false},
		{door, dns, 53, udp, true},
		{door, outside, 443, tcp, true},
		{door, outside, 80, tcp, false},
		{outside, manager, 9443, tcp, true},
		{stranger, manager, 8443, tcp, false},
		{prometheus, manager, 8443, tcp, true},
		{manager, outside, 6443, tcp, true},
		{manager, dns, 53, udp, false},
		{manager, stranger, 8080, tcp, false},
	}
	policies := ofKind[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy")
	for _, f := range flows {
		if got := allows(policies, f); got != f.allowed {
			t.Errorf("%s -> %s port %d/%s: allowed = %v, want %v", f.from.name, f.to.name, f.port, f.protocol, got, f.allowed)
		}
	}
}

// allows reports whether the policies let f through: the sender's egress
// and the receiver's ingress must both allow it. A Pod no policy of a
// direction selects is not isolated in that direction.
func allows(policies []*networkingv1.NetworkPolicy, f flow) bool {
	return admits(policies, networkingv1.PolicyTypeEgress, f.from, f.to, f) &&
		admits(policies, networkingv1.PolicyTypeIngress, f.to, f.from, f)
}

// admits decides for the Pod self in direction dir, whose other end is peer.
func admits(policies []*networkingv1.NetworkPolicy, dir networkingv1.PolicyType, self, peer *endpoint, f flow) bool {
	if self.ns == nil {
		return true // no Pod: no policy applies
	}
	isolated := false
	for _, p := range policies {
		if p.Namespace != self.ns.Name || !slices.Contains(p.Spec.PolicyTypes, dir) || !selects(&p.Spec.PodSelector, self.labels) {
			continue
		}
		isolated = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				if peersMatch(r.From, p.Namespace, peer) && portsMatch(r.Ports, f) {
					return true
				}
			}
		} else {
			for _, r := range p.Spec.Egress {
				if peersMatch(r.To, p.Namespace, peer) && portsMatch(r.Ports, f) {
					return true
				}
			}
		}
	}
	return !isolated
}

// peersMatch: no peers means every peer; a peer with selectors matches Pods
// only (in the policy's namespace unless a namespace selector says
// otherwise). The policies here use no ipBlock.
func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, e *endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			panic(fmt.Sprintf("ipBlock %v: not evaluated by this test", p.IPBlock))
		}
		if e.ns == nil {
			continue
		}
		nsOK := e.ns.Name == policyNS
		if p.NamespaceSelector != nil {
			nsOK = selects(p.NamespaceSelector, e.ns.Labels)
		}
		if nsOK && (p.PodSelector == nil || selects(p.PodSelector, e.labels)) {
			return true
		}
	}
	return false
}

// portsMatch: no ports means every port; a named port is the receiver's
// container port of that name.
func portsMatch(ports []networkingv1.NetworkPolicyPort, f flow) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != f.protocol {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.StrVal != "":
			for _, cp := range f.to.ports {
				if cp.Name == p.Port.StrVal && cp.ContainerPort == f.port && (cp.Protocol == f.protocol || cp.Protocol == "" && f.protocol == corev1.ProtocolTCP) {
					return true
				}
			}
		case p.EndPort != nil:
			if f.port >= p.Port.IntVal && f.port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == f.port:
			return true
		}
	}
	return false
}

func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		panic(err)
	}
	return s.Matches(labels.Set(set))
}
