package controllers_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/sessionmetrics"
	signalingconfig "github.com/sprechzimmer/sprechzimmer/signaling/config"
)

// TestLaggingCacheKeepsTheStoredTokens: when the cache has not seen the
// room's Secret yet, the operator must use the stored tokens, never mint a
// second pair that the links do not carry.
func TestLaggingCacheKeepsTheStoredTokens(t *testing.T) {
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	session := newSession(ns, "lagging", clk.Now().Add(5*time.Minute))
	create(t, session)
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(session)}
	ctx := context.Background()

	direct, err := client.NewWithWatch(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	secretsLag := interceptor.NewClient(direct, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, isSecret := obj.(*corev1.Secret); isSecret {
				return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	reconcile := func(c client.Client) {
		t.Helper()
		r := &controllers.VideoSessionReconciler{
			Client: c, APIReader: direct, Clock: clk,
			Recorder: events.NewFakeRecorder(100),
			Metrics:  sessionmetrics.New(prometheus.NewRegistry(), direct, clk),
			Room:     controllers.RoomOptions{PublicBaseURL: mustURL(t, "https://video.example.test"), SignalingCommand: []string{"/signaling"}, SignalingImage: "test"},
		}
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}

	reconcile(direct) // opens the room: Secret and Pod
	pod := &corev1.Pod{}
	podKey := client.ObjectKey{Namespace: ns, Name: "lagging-room"}
	if err := direct.Get(ctx, podKey, pod); err != nil {
		t.Fatal(err)
	}
	if err := direct.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	reconcile(secretsLag) // a new Pod, while the cache has no Secret

	secret := &corev1.Secret{}
	if err := direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lagging-links"}, secret); err != nil {
		t.Fatal(err)
	}
	if err := direct.Get(ctx, podKey, pod); err != nil {
		t.Fatal(err)
	}
	want := jointoken.Of(string(secret.Data[roomcontract.SecretKeyTherapistToken])).String()
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == signalingconfig.EnvTherapistTokenHash && e.Value != want {
			t.Fatal("the new Pod carries the hash of a token that is not in the Secret: the links would not work")
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
