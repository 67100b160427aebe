package controllers_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
)

// TestOperatorRefusesToStartWithoutTheRoomPolicy: without the policy that
// confines each room to its own session, one room could rewrite every
// session's status in its namespace; the operator says so and does not start.
func TestOperatorRefusesToStartWithoutTheRoomPolicy(t *testing.T) {
	ctx := context.Background()
	installed := &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}
	if err := k8sClient.List(ctx, installed, client.MatchingLabels{controllers.LabelPolicy: controllers.PolicyRoomStatus}); err != nil || len(installed.Items) != 1 {
		t.Fatalf("the suite's room policy binding: %d found, %v", len(installed.Items), err)
	}
	real := installed.Items[0]
	if err := k8sClient.Delete(ctx, &real); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := manifests.Create(ctx, k8sClient, filepath.Join("..", manifests.RoomPolicy)); err != nil {
			t.Fatalf("restoring the room policy: %v", err)
		}
	})

	binding := func(policy string, actions ...admissionregistrationv1.ValidationAction) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
		return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "room-status-", Labels: map[string]string{controllers.LabelPolicy: controllers.PolicyRoomStatus}},
			Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy, ValidationActions: actions},
		}
	}
	tests := []struct {
		name    string
		binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
		wantErr error
	}{
		{"no binding", nil, controllers.ErrNoRoomPolicy},
		{"a binding that only audits", binding(real.Spec.PolicyName, admissionregistrationv1.Audit, admissionregistrationv1.Warn), controllers.ErrNoRoomPolicy},
		{"a binding of a policy that is not there", binding("not-installed", admissionregistrationv1.Deny), controllers.ErrNoRoomPolicy},
		{"the binding as config/policy has it", binding(real.Spec.PolicyName, admissionregistrationv1.Deny), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.binding != nil {
				if err := k8sClient.Create(ctx, tt.binding); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = k8sClient.Delete(ctx, tt.binding) })
			}
			_, err := operator.New(ctx, cfg, operator.Options{Manager: ctrl.Options{
				Metrics:                metricsserver.Options{BindAddress: "0"},
				HealthProbeBindAddress: "0",
				Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
			}})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("operator.New: %v, want %v", err, tt.wantErr)
			}
		})
	}
}
