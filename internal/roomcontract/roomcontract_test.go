package roomcontract_test

import (
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

const testID = "0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2b"

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func session() *videov1alpha1.VideoSession {
	return &videov1alpha1.VideoSession{ObjectMeta: metav1.ObjectMeta{Name: "appt-42", Namespace: "praxis-a", UID: types.UID(testID)}}
}

// TestWireForm pins what other components (front door, portal, browsers,
// dashboards) see: a change here breaks them.
func TestWireForm(t *testing.T) {
	s := session()
	tests := []struct {
		name, got, want string
	}{
		{"room name", roomcontract.RoomName(s), "appt-42-room"},
		{"links secret name", roomcontract.LinksSecretName(s), "appt-42-links"},
		{"room id", roomcontract.RoomID(s), testID},
		{"room url", roomcontract.RoomURL(mustURL(t, "https://video.example.org"), s), "https://video.example.org/r/" + testID + "/"},
		{"room url, base with slash", roomcontract.RoomURL(mustURL(t, "https://video.example.org/"), s), "https://video.example.org/r/" + testID + "/"},
		{"room url, base with path", roomcontract.RoomURL(mustURL(t, "http://127.0.0.1:8080/sz/"), s), "http://127.0.0.1:8080/sz/r/" + testID + "/"},
		{"managed-by label", roomcontract.LabelManagedBy + "=" + roomcontract.ManagedByValue, "app.kubernetes.io/managed-by=sprechzimmer-operator"},
		{"component label", roomcontract.LabelComponent + "=" + roomcontract.ComponentRoom, "app.kubernetes.io/component=room"},
		{"session label", roomcontract.LabelSession, "video.sprechzimmer.dev/session"},
		{"room label", roomcontract.LabelRoom, "video.sprechzimmer.dev/room"},
		{"expiry annotation", roomcontract.AnnotationExpiresAt, "video.sprechzimmer.dev/expires-at"},
		{"therapist link key", roomcontract.SecretKeyTherapistLink, "therapist-link"},
		{"client link key", roomcontract.SecretKeyClientLink, "client-link"},
		{"path prefix", roomcontract.PathPrefix, "/r/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestNewService(t *testing.T) {
	expires := time.Date(2026, 11, 23, 11, 0, 0, 0, time.FixedZone("CET", 3600))
	got := roomcontract.NewService(session(), expires)
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "appt-42-room", Namespace: "praxis-a",
			Labels: map[string]string{
				"app.kubernetes.io/managed-by":   "sprechzimmer-operator",
				"app.kubernetes.io/component":    "room",
				"video.sprechzimmer.dev/session": "appt-42",
				"video.sprechzimmer.dev/room":    testID,
			},
			Annotations: map[string]string{"video.sprechzimmer.dev/expires-at": "2026-11-23T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "video.sprechzimmer.dev/v1alpha1", Kind: "VideoSession", Name: "appt-42",
				UID: types.UID(testID), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"video.sprechzimmer.dev/room": testID, "app.kubernetes.io/component": "room"},
			Ports:     []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("NewService =\n%+v\nwant\n%+v", got, want)
	}
}

func TestValidRoomID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{testID, true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"0F6B1A52-3C1D-4E5F-9A8B-7C6D5E4F3A2B", false},
		{"0f6b1a52x3c1d-4e5f-9a8b-7c6d5e4f3a2b", false},
		{"0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2", false},
		{"0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2b0", false},
		{"0f6b1a523c1d-4e5f-9a8b-7c6d5e4f3a2b-", false},
		{"0f6b1a52-3c1d-4e5f-9a8b-7c6d5e4f3a2g", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := roomcontract.ValidRoomID(tt.id); got != tt.want {
				t.Errorf("ValidRoomID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

// TestCheckService reads Services as the front door does: the operator's
// own Service, then variations of it.
func TestCheckService(t *testing.T) {
	room := func(mutate func(*corev1.Service)) *corev1.Service {
		s := roomcontract.NewService(session(), now.Add(time.Hour))
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	tests := []struct {
		name    string
		svc     *corev1.Service
		want    int32
		problem string
	}{
		{"open room as the operator makes it", room(nil), 8080, ""},
		{"port named http among several", room(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "metrics", Port: 9090}, {Name: "http", Port: 8081}}
		}), 8081, ""},
		{"single unnamed port", room(func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{{Port: 81}} }), 81, ""},
		{"several ports, none named http", room(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 1}, {Name: "b", Port: 2}}
		}), 0, roomcontract.ProblemPort},
		{"no ports", room(func(s *corev1.Service) { s.Spec.Ports = nil }), 0, roomcontract.ProblemPort},
		{"type ClusterIP with a virtual IP", room(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeClusterIP, "10.96.0.10"
		}), 8080, ""},
		{"type ExternalName", room(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "", "decoy.example.org"
		}), 0, roomcontract.ProblemType},
		{"type NodePort", room(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }), 0, roomcontract.ProblemType},
		{"type LoadBalancer", room(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }), 0, roomcontract.ProblemType},
		{"expires now", room(func(s *corev1.Service) { s.Annotations[roomcontract.AnnotationExpiresAt] = now.Format(time.RFC3339) }), 0, roomcontract.ProblemExpired},
		{"expired", room(func(s *corev1.Service) {
			s.Annotations[roomcontract.AnnotationExpiresAt] = now.Add(-time.Second).Format(time.RFC3339)
		}), 0, roomcontract.ProblemExpired},
		{"no expiry", room(func(s *corev1.Service) { s.Annotations = nil }), 0, roomcontract.ProblemExpired},
		{"unreadable expiry", room(func(s *corev1.Service) { s.Annotations[roomcontract.AnnotationExpiresAt] = "tomorrow" }), 0, roomcontract.ProblemExpired},
		{"owner with another UID", room(func(s *corev1.Service) { s.OwnerReferences[0].UID = "other" }), 0, roomcontract.ProblemOwner},
		{"owner of another kind", room(func(s *corev1.Service) { s.OwnerReferences[0].Kind = "Deployment" }), 0, roomcontract.ProblemOwner},
		{"owner of another API version", room(func(s *corev1.Service) { s.OwnerReferences[0].APIVersion = "video.sprechzimmer.dev/v1" }), 0, roomcontract.ProblemOwner},
		{"owner not controller", room(func(s *corev1.Service) { s.OwnerReferences[0].Controller = nil }), 0, roomcontract.ProblemOwner},
		{"no owner", room(func(s *corev1.Service) { s.OwnerReferences = nil }), 0, roomcontract.ProblemOwner},
		{"not a room component", room(func(s *corev1.Service) { s.Labels[roomcontract.LabelComponent] = "other" }), 0, roomcontract.ProblemLabels},
		{"another room's label", room(func(s *corev1.Service) { s.Labels[roomcontract.LabelRoom] = "other" }), 0, roomcontract.ProblemOwner},
		{"no room label", room(func(s *corev1.Service) { delete(s.Labels, roomcontract.LabelRoom) }), 0, roomcontract.ProblemLabels},
		{"not named after its session", room(func(s *corev1.Service) { s.Name = "decoy" }), 0, roomcontract.ProblemOwner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := roomcontract.CheckService(tt.svc, now)
			if got != tt.want || problem != tt.problem {
				t.Errorf("CheckService = %d, %q; want %d, %q", got, problem, tt.want, tt.problem)
			}
			// OpenRoomPort agrees for the room's own id.
			got, ok := roomcontract.OpenRoomPort(tt.svc, testID, now)
			if wantOK := tt.problem == "" && tt.svc.Labels[roomcontract.LabelRoom] == testID; got != tt.want || ok != wantOK {
				t.Errorf("OpenRoomPort = %d, %v; want %d, %v", got, ok, tt.want, wantOK)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
