package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

// How rooms report their state (docs/status-reporting.md): every room's Pod
// runs as the one ServiceAccount RoomServiceAccount of its namespace, which
// may patch videosessions/status there; the ValidatingAdmissionPolicy
// labelled LabelPolicy=PolicyRoomStatus (config/policy) narrows that to the
// room's own session, by the Pod name the API server takes from the Pod-bound
// token. One account per namespace instead of one per room saves three API
// writes per room, and as many deletions at expiry.
const (
	RoomServiceAccount = "sprechzimmer-room"
	ComponentReporter  = "room-reporter"
	LabelPolicy        = "video.sprechzimmer.dev/policy"
	PolicyRoomStatus   = "room-status"
)

// newRoomAccount makes the namespace's room ServiceAccount, with a Role that
// allows patching session status and nothing else, and its RoleBinding. They
// belong to no session: they carry nothing of one, and stay for the next.
func newRoomAccount(namespace string) []client.Object {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: RoomServiceAccount, Namespace: namespace, Labels: map[string]string{
			roomcontract.LabelManagedBy: roomcontract.ManagedByValue,
			roomcontract.LabelComponent: ComponentReporter,
		}}
	}
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: meta(), AutomountServiceAccountToken: ptr.To(false)},
		&rbacv1.Role{
			ObjectMeta: meta(),
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{videov1alpha1.GroupVersion.Group},
				Resources: []string{"videosessions/status"},
				Verbs:     []string{"patch"},
			}},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: meta(),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: RoomServiceAccount},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: RoomServiceAccount, Namespace: namespace}},
		},
	}
}

// ensureRoomAccount creates what of the namespace's room account the cache
// does not hold. Reconciles of the same namespace may race to create it; the
// losers find it exists.
func (r *VideoSessionReconciler) ensureRoomAccount(ctx context.Context, namespace string) error {
	for _, obj := range newRoomAccount(namespace) {
		if r.exists(ctx, obj) {
			continue
		}
		if err := r.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the room account's %T: %w", obj, err)
		}
	}
	return nil
}

// ErrNoRoomPolicy says the admission policy that confines rooms to their own
// session is not installed: without it, one room could rewrite the status of
// every session in its namespace.
var ErrNoRoomPolicy = errors.New("the ValidatingAdmissionPolicy labelled " + LabelPolicy + "=" + PolicyRoomStatus +
	" and a binding of it with validationActions [Deny] are not installed (kubectl apply -k config/policy, part of config/default)")

// CheckRoomPolicy returns ErrNoRoomPolicy unless the cluster enforces the
// room policy: a binding labelled for it denies, and the policy it binds
// exists. The operator runs no room without it.
func CheckRoomPolicy(ctx context.Context, c client.Reader) error {
	bindings := &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}
	if err := c.List(ctx, bindings, client.MatchingLabels{LabelPolicy: PolicyRoomStatus}); err != nil {
		return fmt.Errorf("looking for the room policy: %w", err)
	}
	for _, b := range bindings.Items {
		if !slices.Contains(b.Spec.ValidationActions, admissionregistrationv1.Deny) {
			continue
		}
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		err := c.Get(ctx, types.NamespacedName{Name: b.Spec.PolicyName}, policy)
		switch {
		case err == nil && policy.Labels[LabelPolicy] == PolicyRoomStatus:
			return nil
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("reading the room policy: %w", err)
		}
	}
	return ErrNoRoomPolicy
}
