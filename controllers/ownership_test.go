package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// TestLookAlikeChildrenAreNeverUsed puts an object with the name of a room's
// child in the room's place before the room opens, made by someone else: a
// Pod that would serve the room's links, a Service that would route them,
// a Secret that would hand out someone else's links. The operator never
// uses it: a Pod is replaced by the room's own, a Service or Secret keeps
// the room closed; either way an Event and the RoomReady condition say why.
func TestLookAlikeChildrenAreNeverUsed(t *testing.T) {
	const name = "lookalike"
	labelled := func(room bool) map[string]string {
		if !room {
			return map[string]string{"app": "decoy"}
		}
		// The operator's labels, so that the operator's cache holds it.
		return map[string]string{
			roomcontract.LabelManagedBy: roomcontract.ManagedByValue,
			roomcontract.LabelComponent: roomcontract.ComponentRoom,
			roomcontract.LabelSession:   name,
		}
	}
	decoyPod := func(room bool) client.Object {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-room", Labels: labelled(room)},
			Spec: corev1.PodSpec{
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{{Name: "decoy", Image: "decoy:1"}},
			},
		}
	}
	decoyService := func(room bool) client.Object {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-room", Labels: labelled(room)},
			Spec: corev1.ServiceSpec{
				Type:         corev1.ServiceTypeExternalName,
				ExternalName: "decoy.example.test",
			},
		}
	}
	decoySecret := func(room bool) client.Object {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-links", Labels: labelled(room)},
			StringData: map[string]string{roomcontract.SecretKeyClientLink: "https://decoy.example.test/"},
		}
	}
	tests := []struct {
		name  string
		decoy client.Object
		// replaced: the operator deletes the decoy and makes its own;
		// otherwise the room stays closed until the decoy is removed.
		replaced bool
	}{
		{"pod, unlabelled", decoyPod(false), true},
		{"pod with the room's labels", decoyPod(true), true},
		{"service, unlabelled", decoyService(false), false},
		{"service with the room's labels", decoyService(true), false},
		{"secret, unlabelled", decoySecret(false), false},
		{"secret with the room's labels", decoySecret(true), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(t)
			clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
			startOperator(t, ns, clk)
			decoy := tt.decoy.DeepCopyObject().(client.Object)
			decoy.SetNamespace(ns)
			create(t, decoy)
			create(t, newSession(ns, name, clk.Now().Add(10*time.Minute)))
			key := types.NamespacedName{Namespace: ns, Name: name}

			// A replaced Pod's condition lasts only until the room's own
			// Pod is made; the Event stays.
			awaitForeignReported(t, key, !tt.replaced)
			if tt.replaced {
				awaitControlled(t, key, decoy, nil)
				return
			}
			// The decoy stays as it was, and the room does not open: no
			// links in the status, and no Pod that would serve them.
			consistently(t, "room closed while the decoy is there", time.Second, func() error {
				s, err := getSession(key)
				if err != nil {
					return err
				}
				if s.Status.LinksSecretName != "" && isSecret(decoy) {
					return fmt.Errorf("status names links secret %q", s.Status.LinksSecretName)
				}
				if c := meta.FindStatusCondition(s.Status.Conditions, videov1alpha1.ConditionRoomReady); c == nil || c.Status != metav1.ConditionFalse {
					return fmt.Errorf("RoomReady is %v", c)
				}
				got := decoy.DeepCopyObject().(client.Object)
				if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(decoy), got); err != nil {
					return err
				}
				if got.GetUID() != decoy.GetUID() || len(got.GetOwnerReferences()) != 0 {
					return errors.New("the decoy was changed or replaced")
				}
				return nil
			})
			// Once the decoy is gone, the room opens with its own at the
			// operator's next retry, which waits on the operator's clock.
			if err := k8sClient.Delete(context.Background(), decoy); err != nil {
				t.Fatal(err)
			}
			awaitControlled(t, key, decoy, clk)
		})
	}
}

func isSecret(obj client.Object) bool {
	_, ok := obj.(*corev1.Secret)
	return ok
}

// awaitForeignReported waits for the ForeignObject Event on the session and,
// with condition, the RoomReady condition with that reason.
func awaitForeignReported(t *testing.T, key types.NamespacedName, condition bool) {
	t.Helper()
	testenv.Eventually(t, "the foreign object reported", func() error {
		var events eventsv1.EventList
		if err := k8sClient.List(context.Background(), &events, client.InNamespace(key.Namespace)); err != nil {
			return err
		}
		found := false
		for _, e := range events.Items {
			if e.Reason == controllers.ReasonForeignObject && e.Regarding.Name == key.Name && e.Type == corev1.EventTypeWarning {
				found = true
			}
		}
		if !found {
			return errors.New("no ForeignObject event")
		}
		if !condition {
			return nil
		}
		s, err := getSession(key)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, videov1alpha1.ConditionRoomReady); c == nil || c.Reason != controllers.ReasonForeignObject {
			return fmt.Errorf("RoomReady is %v", c)
		}
		return nil
	})
}

// awaitControlled waits until the object named like decoy is the session's
// own: a new object, controlled by the session. With clk, it moves the
// operator's clock past the longest retry delay now and then, as time
// would pass.
func awaitControlled(t *testing.T, key types.NamespacedName, decoy client.Object, clk *testingclock.FakeClock) {
	t.Helper()
	var stepped time.Time
	testenv.Eventually(t, "the room's own "+decoy.GetName(), func() error {
		if clk != nil && time.Since(stepped) > 500*time.Millisecond {
			clk.Step(31 * time.Second) // controllers' maxRetryDelay is 30 s
			stepped = time.Now()
		}
		s, err := getSession(key)
		if err != nil {
			return err
		}
		got := decoy.DeepCopyObject().(client.Object)
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(decoy), got); err != nil {
			return err
		}
		if got.GetUID() == decoy.GetUID() || !metav1.IsControlledBy(got, s) {
			return errors.New("still not the session's own")
		}
		return nil
	})
}
