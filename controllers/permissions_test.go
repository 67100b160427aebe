package controllers_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// The ServiceAccounts of config/overlays/watch-namespaces, as the API server
// names them to RBAC.
const (
	operatorUser  = "system:serviceaccount:sprechzimmer-system:sprechzimmer-controller-manager"
	frontdoorUser = "system:serviceaccount:sprechzimmer-frontdoor:frontdoor"
)

// rbacKinds are the kinds of a rendered overlay that decide who may do
// what; TestWatchedNamespacesLeastPrivilege installs them as they are.
var rbacKinds = []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// render renders an overlay of config/ with kubectl's kustomize.
func render(t *testing.T, overlay string) []*unstructured.Unstructured {
	t.Helper()
	kubectl, err := testenv.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Kustomize(context.Background(), kubectl, filepath.Join("..", "config", "overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// ofKind returns the rendered objects of kind, converted to T.
func ofKind[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) []*T {
	t.Helper()
	var out []*T
	for _, o := range objs {
		if o.GetKind() != kind {
			continue
		}
		typed := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, typed); err != nil {
			t.Fatalf("%s %s: %v", kind, o.GetName(), err)
		}
		out = append(out, typed)
	}
	return out
}

// deployment returns the rendered Deployment named name.
func deployment(t *testing.T, objs []*unstructured.Unstructured, name string) *appsv1.Deployment {
	t.Helper()
	for _, d := range ofKind[appsv1.Deployment](t, objs, "Deployment") {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s rendered", name)
	return nil
}

// watchedNamespaces are the --namespace arguments of a Deployment's first
// container.
func watchedNamespaces(d *appsv1.Deployment) []string {
	var ns []string
	for _, arg := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(arg, "--namespace="); ok {
			ns = append(ns, v)
		}
	}
	return ns
}

// install creates the rendered objects of the given kinds; what exists is
// left as it is.
func install(t *testing.T, objs []*unstructured.Unstructured, kinds ...string) {
	t.Helper()
	for _, o := range objs {
		if !slices.Contains(kinds, o.GetKind()) {
			continue
		}
		if err := k8sClient.Create(context.Background(), o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// impersonating returns a copy of the suite's config that acts as user.
func impersonating(user string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user}
	return c
}

// clientAs is a client that acts as user.
func clientAs(t *testing.T, user string) client.Client {
	t.Helper()
	c, err := client.New(impersonating(user), client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// access is one request a role's user makes and whether RBAC must allow it.
type access struct {
	what    string
	do      func(ctx context.Context, c client.Client) error
	allowed bool
}

// checkAccess makes each request as user: an allowed one must not be
// refused by RBAC (NotFound still shows it passed authorization), a refused
// one must be refused by RBAC, not by admission.
func checkAccess(t *testing.T, user string, cases []access) {
	t.Helper()
	c := clientAs(t, user)
	for _, tc := range cases {
		err := tc.do(context.Background(), c)
		switch {
		case tc.allowed && apierrors.IsForbidden(err):
			t.Errorf("%s: refused, want allowed: %v", tc.what, err)
		case tc.allowed && err != nil && !apierrors.IsNotFound(err):
			t.Errorf("%s: %v", tc.what, err)
		case !tc.allowed && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), " cannot ")):
			t.Errorf("%s: err = %v, want refused by RBAC (Forbidden: ... cannot ...)", tc.what, err)
		}
	}
}

// TestWatchedNamespacesLeastPrivilege installs the RBAC of
// config/overlays/watch-namespaces as it renders, runs the operator and the
// front door as their ServiceAccounts and the portal as a ServiceAccount
// bound to its role, and checks that each can do its work in the watched
// namespace and nothing outside it (docs/permissions.md).
func TestWatchedNamespacesLeastPrivilege(t *testing.T) {
	objs := render(t, "watch-namespaces")
	install(t, objs, rbacKinds...)
	watched := watchedNamespaces(deployment(t, objs, "sprechzimmer-controller-manager"))
	if len(watched) != 1 || !slices.Equal(watched, watchedNamespaces(deployment(t, objs, "frontdoor"))) {
		t.Fatalf("operator watches %v, front door %v; want the same one example namespace", watched, watchedNamespaces(deployment(t, objs, "frontdoor")))
	}
	ns, elsewhere := watched[0], newNamespace(t)
	for _, b := range ofKind[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding") {
		if b.RoleRef.Name == "sprechzimmer-manager-role" || b.RoleRef.Name == "sprechzimmer-frontdoor" {
			t.Errorf("ClusterRoleBinding %s grants %s cluster-wide", b.Name, b.RoleRef.Name)
		}
	}

	// The operator, as its ServiceAccount, opens a room in the watched
	// namespace: it may make every object of a room there.
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	startOperator(t, ns, clk, func(_ *operator.Options, c *rest.Config) { c.Impersonate = impersonating(operatorUser).Impersonate })
	name := "least-privilege-" + strings.TrimPrefix(elsewhere, "vs-")
	create(t, newSession(ns, name, clk.Now().Add(10*time.Minute)))
	s := waitPhase(t, types.NamespacedName{Namespace: ns, Name: name}, videov1alpha1.PhaseOpen)
	pod := getPod(t, s)
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: elsewhere, Name: "not-a-room"}, StringData: map[string]string{"k": "v"}}
	create(t, other)

	t.Run("operator", func(t *testing.T) {
		checkAccess(t, operatorUser, []access{
			{"list the room policy's bindings (cluster-scoped)", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{})
			}, true},
			{"create a Pod in an unwatched namespace", func(ctx context.Context, c client.Client) error {
				p := pod.DeepCopy()
				p.ObjectMeta = metav1.ObjectMeta{Namespace: elsewhere, Name: "escape"}
				return c.Create(ctx, p)
			}, false},
			{"list Secrets of an unwatched namespace", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.SecretList{}, client.InNamespace(elsewhere))
			}, false},
			{"list Secrets of all namespaces", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.SecretList{})
			}, false},
			{"create a Role in an unwatched namespace", func(ctx context.Context, c client.Client) error {
				return c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: elsewhere, Name: "escape"}})
			}, false},
			{"create a ServiceAccount in an unwatched namespace", func(ctx context.Context, c client.Client) error {
				return c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: elsewhere, Name: "escape"}})
			}, false},
			{"delete the Events of an expired session in the watched namespace", func(ctx context.Context, c client.Client) error {
				return c.DeleteAllOf(ctx, &eventsv1.Event{}, client.InNamespace(ns), client.DryRunAll)
			}, true},
			{"delete Events of an unwatched namespace", func(ctx context.Context, c client.Client) error {
				return c.DeleteAllOf(ctx, &eventsv1.Event{}, client.InNamespace(elsewhere), client.DryRunAll)
			}, false},
			{"read Events", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &eventsv1.EventList{}, client.InNamespace(ns))
			}, false},
		})
	})

	t.Run("frontdoor", func(t *testing.T) {
		// The front door, as its ServiceAccount, finds the room.
		dir, err := frontdoor.NewDirectory(impersonating(frontdoorUser), frontdoor.DirectoryOptions{Namespaces: watched})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Go(t, "front door directory", dir.Start)
		testenv.Eventually(t, "the front door routes to the room", func() error {
			if _, ok := dir.Lookup(context.Background(), roomcontract.RoomID(s)); !ok {
				return errNotRouted
			}
			return nil
		})
		checkAccess(t, frontdoorUser, []access{
			{"list Services of the watched namespace", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.ServiceList{}, client.InNamespace(ns))
			}, true},
			{"list Secrets of the watched namespace", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
			}, false},
			{"get the room's links Secret", func(ctx context.Context, c client.Client) error {
				return c.Get(ctx, types.NamespacedName{Namespace: ns, Name: s.Status.LinksSecretName}, &corev1.Secret{})
			}, false},
			{"list Services of an unwatched namespace", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.ServiceList{}, client.InNamespace(elsewhere))
			}, false},
			{"list Services of all namespaces", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.ServiceList{})
			}, false},
			{"get the room's Pod", func(ctx context.Context, c client.Client) error {
				return c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{})
			}, false},
			{"delete the session", func(ctx context.Context, c client.Client) error {
				return c.Delete(ctx, s.DeepCopy(), client.DryRunAll)
			}, false},
		})
	})

	t.Run("portal", func(t *testing.T) {
		// The portal's ServiceAccount, bound as config/portal says.
		portalNS := newNamespace(t)
		create(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: portalNS, Name: "therapist-portal"}})
		create(t, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "portal-" + portalNS},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "sprechzimmer-portal"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: portalNS, Name: "therapist-portal"}},
		})
		portalUser := "system:serviceaccount:" + portalNS + ":therapist-portal"
		later := newSession(ns, name+"-later", clk.Now().Add(72*time.Hour))
		checkAccess(t, portalUser, []access{
			{"create a session", func(ctx context.Context, c client.Client) error { return c.Create(ctx, later) }, true},
			{"move a session's start time", func(ctx context.Context, c client.Client) error {
				before := later.DeepCopy()
				later.Spec.StartTime = metav1.Time{Time: later.Spec.StartTime.Add(time.Hour)}
				return c.Patch(ctx, later, client.MergeFrom(before))
			}, true},
			{"get the room's links Secret by name", func(ctx context.Context, c client.Client) error {
				return c.Get(ctx, types.NamespacedName{Namespace: ns, Name: s.Status.LinksSecretName}, &corev1.Secret{})
			}, true},
			{"list Secrets", func(ctx context.Context, c client.Client) error {
				return c.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
			}, false},
			{"get a Secret of another namespace", func(ctx context.Context, c client.Client) error {
				return c.Get(ctx, client.ObjectKeyFromObject(other), &corev1.Secret{})
			}, false},
			{"patch a session's status", func(ctx context.Context, c client.Client) error {
				before := s.DeepCopy()
				forged := s.DeepCopy()
				forged.Status.Participants = 2
				return c.Status().Patch(ctx, forged, client.MergeFrom(before))
			}, false},
			{"delete the room's Pod", func(ctx context.Context, c client.Client) error {
				return c.Delete(ctx, pod.DeepCopy(), client.DryRunAll)
			}, false},
			{"create a session in another namespace", func(ctx context.Context, c client.Client) error {
				return c.Create(ctx, newSession(elsewhere, "portal-elsewhere", clk.Now().Add(72*time.Hour)))
			}, false},
		})
		moved := &videov1alpha1.VideoSession{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(later), moved); err != nil {
			t.Fatal(err)
		}
		if want := clk.Now().Add(73 * time.Hour); !moved.Spec.StartTime.Equal(&metav1.Time{Time: want}) {
			t.Errorf("start time after the portal's patch = %v, want %v", moved.Spec.StartTime, want)
		}
	})

	t.Run("network", func(t *testing.T) { checkNetworkPolicies(t, objs, pod) })
}

// errNotRouted: the front door does not route to the room (yet).
var errNotRouted = errors.New("the front door does not route to the room")
