package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testcluster"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// testHelm installs the product with the Helm chart and the single-node
// values (docs/install.md, "With Helm"), opens a session's room through it,
// and uninstalls it, leaving the node clean for the kustomize install.
func testHelm(t *testing.T, api ctrlclient.Client) {
	ctx := context.Background()
	helm := helmBin(t)
	if err := cluster.InstallHelm(ctx, helm); err != nil {
		t.Fatalf("installing with Helm as docs/install.md says: %v", err)
	}
	session := createSession(t, api)
	key := types.NamespacedName{Namespace: roomNamespace, Name: session.Name}
	var pod corev1.Pod
	testenv.EventuallyWithin(t, "the session's room is ready", 3*time.Minute, func() error {
		if err := api.Get(ctx, key, session); err != nil {
			return err
		}
		if !apimeta.IsStatusConditionTrue(session.Status.Conditions, videov1alpha1.ConditionRoomReady) {
			return fmt.Errorf("phase %s, conditions %v", session.Status.Phase, session.Status.Conditions)
		}
		return api.Get(ctx, types.NamespacedName{Namespace: roomNamespace, Name: roomcontract.RoomName(session)}, &pod)
	})
	if !testcluster.PodReady(&pod) {
		t.Errorf("RoomReady is true but the room Pod is not Ready")
	}
	if err := api.Delete(ctx, session); err != nil {
		t.Fatal(err)
	}
	waitGone(t, api, 2*time.Minute, session, &pod)

	if err := cluster.UninstallHelm(ctx, helm); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	// What would get in the way of another install: cluster-wide objects.
	for _, left := range []struct {
		obj  ctrlclient.Object
		name string
	}{
		{&admissionregistrationv1.ValidatingWebhookConfiguration{}, "sprechzimmer-validating-webhook-configuration"},
		{&admissionregistrationv1.MutatingWebhookConfiguration{}, "sprechzimmer-mutating-webhook-configuration"},
		{&admissionregistrationv1.ValidatingAdmissionPolicy{}, "sprechzimmer-room-status"},
		{&rbacv1.ClusterRole{}, "sprechzimmer-manager-role"},
	} {
		if err := api.Get(ctx, types.NamespacedName{Name: left.name}, left.obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after helm uninstall: %v, want NotFound", left.obj, left.name, err)
		}
	}
}

// helmBin is bin/helm, built from the Go module proxy by hack/helm.sh
// (once; make test builds it first).
func helmBin(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "hack", "helm.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/helm.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}
