package frontdoor

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

const testID = "0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2b"

func TestParseRoomPath(t *testing.T) {
	tests := []struct {
		path   string
		want   roomPath
		wantOK bool
	}{
		{"/r/" + testID + "/", roomPath{id: testID, rest: "/"}, true},
		{"/r/" + testID, roomPath{id: testID}, true},
		{"/r/" + testID + "/ws", roomPath{id: testID, rest: "/ws"}, true},
		{"/r/" + testID + "/a/b.js", roomPath{id: testID, rest: "/a/b.js"}, true},
		{"/r/" + testID + "/dir/", roomPath{id: testID, rest: "/dir/"}, true},
		{"/r/" + testID + "/metrics", roomPath{}, false},
		{"/r/" + testID + "/healthz", roomPath{}, false},
		{"/r/" + testID + "/./x", roomPath{}, false},
		{"/r/" + testID + "/x/..", roomPath{}, false},
		{"/r/" + testID + "//x", roomPath{}, false},
		{"/r/0F6B1A52-3C1D-4E5F-9A8B-7C6D5E4F3A2B/", roomPath{}, false},
		{"/r/0f6b1a52x3c1d-4e5f-9a8b-7c6d5e4f3a2b/", roomPath{}, false},
		{"/r/0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2/", roomPath{}, false},
		{"/r/", roomPath{}, false},
		{"/r", roomPath{}, false},
		{"/", roomPath{}, false},
		{"/x/" + testID + "/", roomPath{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := parseRoomPath(tt.path)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRoomPath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestUpstreamOf checks the URL made of an open room's Service; which
// Services are open rooms is roomcontract's TestOpenRoomPort.
func TestUpstreamOf(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	room := func(mutate func(*corev1.Service)) *corev1.Service {
		s := roomcontract.NewService(&videov1alpha1.VideoSession{
			ObjectMeta: metav1.ObjectMeta{Name: "appt-42", Namespace: "praxis-a", UID: types.UID(testID)},
		}, now.Add(time.Hour))
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	tests := []struct {
		name   string
		svc    *corev1.Service
		domain string
		want   string
	}{
		{"open room", room(nil), "cluster.local", "http://appt-42-room.praxis-a.svc.cluster.local:8080"},
		{"other cluster domain", room(nil), "k8s.example.org", "http://appt-42-room.praxis-a.svc.k8s.example.org:8080"},
		{"port named http among several", room(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "metrics", Port: 9090}, {Name: "http", Port: 8081}}
		}), "cluster.local", "http://appt-42-room.praxis-a.svc.cluster.local:8081"},
		{"single unnamed port", room(func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{{Port: 81}} }), "cluster.local", "http://appt-42-room.praxis-a.svc.cluster.local:81"},
		{"several ports, none named http", room(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 1}, {Name: "b", Port: 2}}
		}), "cluster.local", ""},
		{"expires now", room(func(s *corev1.Service) { s.Annotations[roomcontract.AnnotationExpiresAt] = now.Format(time.RFC3339) }), "cluster.local", ""},
		{"owner with another UID", room(func(s *corev1.Service) { s.OwnerReferences[0].UID = "other" }), "cluster.local", ""},
		{"not a room component", room(func(s *corev1.Service) { s.Labels[roomcontract.LabelComponent] = "other" }), "cluster.local", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := upstreamOf(tt.svc, testID, tt.domain, now)
			got := ""
			if ok {
				got = u.String()
			}
			if got != tt.want {
				t.Errorf("upstreamOf = %q, want %q", got, tt.want)
			}
		})
	}
}
