package controllers

import (
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/probes"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

// A room answering its kubelet's probe late on a busy node keeps its call:
// CI once saw a room restarted mid-call by a liveness probe that allowed one
// second per answer and three misses.
func TestRoomPodIsNotRestartedForSlowProbes(t *testing.T) {
	now := time.Now()
	s := &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: "rooms", Name: "appointment", UID: "uid-1"},
		Spec:       videov1alpha1.VideoSessionSpec{StartTime: metav1.NewTime(now)},
	}
	secret := &corev1.Secret{Data: map[string][]byte{
		roomcontract.SecretKeyTherapistToken: []byte("therapist-token"),
		roomcontract.SecretKeyClientToken:    []byte("client-token"),
	}}
	o := &RoomOptions{PublicBaseURL: &url.URL{Scheme: "https", Host: "video.example.org"}, SignalingImage: "signaling:v1"}
	pod, err := o.newPod(s, secret, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Spec.Containers {
		if c.LivenessProbe == nil {
			t.Errorf("container %s has no liveness probe: a hung room would never be restarted", c.Name)
		}
		if err := probes.CheckLiveness(c); err != nil {
			t.Error(err)
		}
		if r := c.ReadinessProbe; r == nil || r.TimeoutSeconds < probes.TimeoutSeconds {
			t.Errorf("container %s: readiness probe %+v, want one that waits %d s for an answer", c.Name, r, probes.TimeoutSeconds)
		}
	}
}
