// Package roomcontract is the contract between the operator, which makes a
// room's objects, and the components that read them: the front door finds a
// room's Service by its labels and expiry annotation and routes /r/<room-id>/
// to it; the portal reads the two personal links from the links Secret.
//
// Like cluster-api's common_types.go, it holds the names, labels,
// annotation, URL path and Secret keys both sides agree on, the builder of
// the room's Service and the check a reader applies to one. The operator
// and the front door import it; neither imports the other. It depends on
// the API types and Kubernetes' core types only.
package roomcontract

import (
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
)

// Labels and the annotation on what the operator creates for a room.
const (
	// LabelManagedBy, with the value ManagedByValue, is on everything the
	// operator creates. The operator's and the front door's caches watch
	// only objects that carry it, so they never hold other Secrets, Pods or
	// Services of the cluster.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the operator's value of LabelManagedBy.
	ManagedByValue = "sprechzimmer-operator"
	// LabelComponent says which part of the product an object is.
	LabelComponent = "app.kubernetes.io/component"
	// ComponentRoom is LabelComponent's value on a room's Pod, Service and
	// links Secret.
	ComponentRoom = "room"
	// LabelSession is the name of the VideoSession a room object belongs to.
	LabelSession = "video.sprechzimmer.dev/session"
	// LabelRoom is the room id (see RoomID) a room object belongs to; the
	// front door indexes Services by it.
	LabelRoom = "video.sprechzimmer.dev/room"
	// AnnotationExpiresAt on a room's Service is the room's expiry (RFC
	// 3339), so the front door refuses an expired room before it is gone.
	AnnotationExpiresAt = "video.sprechzimmer.dev/expires-at"
)

// Keys of the links Secret (see LinksSecretName). The portal reads the two
// links; the tokens are kept so that a restarted operator re-derives the
// same hashes.
const (
	// SecretKeyTherapistLink is the therapist's personal link.
	SecretKeyTherapistLink = "therapist-link"
	// SecretKeyClientLink is the client's personal link.
	SecretKeyClientLink = "client-link"
	// SecretKeyTherapistToken is the therapist's join token.
	SecretKeyTherapistToken = "therapist-token"
	// SecretKeyClientToken is the client's join token.
	SecretKeyClientToken = "client-token"
)

const (
	// PathPrefix is where room URLs start: <public base>/r/<room-id>/...
	PathPrefix = "/r/"
	// PortName names the signaling server's port on the room's Pod and
	// Service.
	PortName = "http"
	// Port is the signaling server's port, on the room's Pod and Service.
	Port int32 = 8080
	// OwnerKind is the kind of a room's controlling owner.
	OwnerKind = "VideoSession"
)

// roomSuffix follows the session's name in RoomName.
const roomSuffix = "-room"

// RoomName names the room's Pod and Service: <session>-room.
func RoomName(s *videov1alpha1.VideoSession) string { return s.Name + roomSuffix }

// LinksSecretName names the Secret with the two personal links:
// <session>-links.
func LinksSecretName(s *videov1alpha1.VideoSession) string { return s.Name + "-links" }

// RoomID is the room's public identifier: the session's UID, which says
// nothing about the session's name or namespace.
func RoomID(s *videov1alpha1.VideoSession) string { return string(s.UID) }

// RoomURL is the room's public URL below base, without secrets:
// <base>/r/<room-id>/.
func RoomURL(base *url.URL, s *videov1alpha1.VideoSession) string {
	return strings.TrimSuffix(base.String(), "/") + PathPrefix + RoomID(s) + "/"
}

// ValidRoomID reports whether id has the form of a room id: a Kubernetes
// UID as the API server makes them, a lower-case UUID
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).
func ValidRoomID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// Labels are the labels of every object of the room of s.
func Labels(s *videov1alpha1.VideoSession) map[string]string {
	return map[string]string{
		LabelManagedBy: ManagedByValue,
		LabelComponent: ComponentRoom,
		LabelSession:   s.Name,
		LabelRoom:      RoomID(s),
	}
}

// NewService makes the Service the front door sends the room's traffic to:
// named RoomName, labelled with Labels, controlled by s, annotated with the
// expiry. It is headless: a room needs no virtual IP (thousands of rooms
// would exhaust the service range and fill kube-proxy's rules); its DNS name
// resolves to the room's Pod, on Port.
func NewService(s *videov1alpha1.VideoSession, expiresAt time.Time) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            RoomName(s),
			Namespace:       s.Namespace,
			Labels:          Labels(s),
			Annotations:     map[string]string{AnnotationExpiresAt: expiresAt.UTC().Format(time.RFC3339)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(s, videov1alpha1.GroupVersion.WithKind(OwnerKind))},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: false,
			Selector:                 map[string]string{LabelRoom: RoomID(s), LabelComponent: ComponentRoom},
			Ports:                    []corev1.ServicePort{{Name: PortName, Port: Port, TargetPort: intstr.FromInt32(Port), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// Why a Service that carries a room label is not that open room (see
// CheckService). They are few and name nothing, for metric labels.
const (
	// ProblemLabels: its component label is not ComponentRoom, or it has no
	// room label.
	ProblemLabels = "labels"
	// ProblemType: it is not of type ClusterIP: ExternalName, which would
	// send the room's traffic anywhere, or NodePort or LoadBalancer, which
	// the operator never makes.
	ProblemType = "type"
	// ProblemOwner: its controlling owner is not a VideoSession whose UID is
	// its room label, or it is not named RoomName of that session, so a
	// Service someone else labelled does not capture the room.
	ProblemOwner = "owner"
	// ProblemExpired: its expiry annotation is missing, unreadable or not
	// after now.
	ProblemExpired = "expired"
	// ProblemPort: it has no port named PortName and not exactly one port.
	ProblemPort = "port"
)

// CheckService returns the port to reach the room of svc's room label at,
// if svc is that room's Service and the room is open at now, and otherwise
// the first Problem found:
//   - its component label is ComponentRoom and it has a room label;
//   - it is of type ClusterIP (headless, as NewService makes it, or not);
//   - its controlling owner is a VideoSession whose UID is the room label,
//     and its name is RoomName of that session;
//   - its expiry annotation is readable and after now;
//   - it has a port named PortName, or exactly one port.
//
// Whether the owning VideoSession exists is for the reader to check: the
// Service alone cannot tell (a look-alike may copy the whole reference).
func CheckService(svc *corev1.Service, now time.Time) (port int32, problem string) {
	id := svc.Labels[LabelRoom]
	if id == "" || svc.Labels[LabelComponent] != ComponentRoom {
		return 0, ProblemLabels
	}
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		return 0, ProblemType
	}
	owner := metav1.GetControllerOf(svc)
	if owner == nil || string(owner.UID) != id || owner.Kind != OwnerKind || owner.APIVersion != videov1alpha1.GroupVersion.String() ||
		svc.Name != owner.Name+roomSuffix {
		return 0, ProblemOwner
	}
	expires, err := time.Parse(time.RFC3339, svc.Annotations[AnnotationExpiresAt])
	if err != nil || !now.Before(expires) {
		return 0, ProblemExpired
	}
	port, ok := servicePort(svc)
	if !ok {
		return 0, ProblemPort
	}
	return port, ""
}

// OpenRoomPort returns the port to reach the room id at through svc, if svc
// carries room label id and CheckService finds no problem with it at now.
func OpenRoomPort(svc *corev1.Service, id string, now time.Time) (int32, bool) {
	if svc.Labels[LabelRoom] != id {
		return 0, false
	}
	port, problem := CheckService(svc, now)
	return port, problem == ""
}

// servicePort is svc's port named PortName, else its only port.
func servicePort(svc *corev1.Service) (int32, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Name == PortName {
			return p.Port, true
		}
	}
	if len(svc.Spec.Ports) == 1 {
		return svc.Spec.Ports[0].Port, true
	}
	return 0, false
}
