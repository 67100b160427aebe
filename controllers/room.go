package controllers

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/memlimit"
	"github.com/sprechzimmer/sprechzimmer/internal/probes"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	signalingconfig "github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// The signaling Pod's settings that no one outside the operator reads; the
// shared names, labels and port are in package roomcontract.
const (
	signalingContainer  = "signaling"
	podDeadlineGrace    = time.Minute
	signalingRunAsUser  = 65532
	iceServersSecretKey = "ice-servers"
)

// RoomOptions is how the platform team configures the rooms.
type RoomOptions struct {
	// PublicBaseURL is where browsers reach the front door, e.g. https://video.example.org.
	PublicBaseURL *url.URL
	// SignalingImage is the signaling server's container image, with a
	// version tag: room Pods pull it only if the node does not have it, so
	// a room opens without a registry round trip (and on a node it was
	// imported into, without a registry at all).
	SignalingImage string
	// SignalingCommand is the signaling container's command.
	SignalingCommand []string
	// SignalingResources are the signaling container's requests and limits.
	SignalingResources corev1.ResourceRequirements
	// TURNSecret returns the secret shared with the TURN server
	// (use-auth-secret). It is asked for each new room, so that after a
	// rotation new rooms get credentials under the new secret; a room keeps
	// the credentials it was made with.
	TURNSecret func() []byte
	// TURNURLs are the TURN server URIs, e.g. turn:turn.example.org:3478?transport=udp.
	TURNURLs []string
	// STUNURLs are STUN server URIs handed out without credentials.
	STUNURLs []string
	// TermsVersion is the version of the terms text clients consent to.
	TermsVersion string
	// APIServer is the API server URL the signaling Pods report to; empty
	// means the in-cluster default.
	APIServer string
	// ExtraEnv is added to the signaling container (the local runner uses it).
	ExtraEnv []corev1.EnvVar
}

// DefaultSignalingResources are small: one room is two WebSockets and no
// media (the connection test runs in the browser). The CPU limit keeps a
// room under a flood of connections from taking more than half a core of
// its node.
func DefaultSignalingResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
}

// RoomURL is the room's public URL, without secrets.
func (o *RoomOptions) RoomURL(s *videov1alpha1.VideoSession) string {
	return roomcontract.RoomURL(o.PublicBaseURL, s)
}

// link is a personal link: the token rides in the fragment, which browsers
// never send to a server.
func (o *RoomOptions) link(s *videov1alpha1.VideoSession, token string) string {
	return o.RoomURL(s) + "#t=" + token
}

func childMeta(s *videov1alpha1.VideoSession, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: roomcontract.Labels(s)}
}

// ICEServers returns the STUN servers and one TURN entry whose credentials
// are valid until the room expires, minted under the current TURN secret.
func (o *RoomOptions) ICEServers(s *videov1alpha1.VideoSession, expiresAt time.Time) []protocol.ICEServer {
	var servers []protocol.ICEServer
	if len(o.STUNURLs) > 0 {
		servers = append(servers, protocol.ICEServer{URLs: o.STUNURLs})
	}
	if len(o.TURNURLs) > 0 {
		cred := turncred.Mint(o.TURNSecret(), roomcontract.RoomID(s), expiresAt)
		servers = append(servers, protocol.ICEServer{URLs: o.TURNURLs, Username: cred.Username, Credential: cred.Password})
	}
	return servers
}

// newLinksSecret makes the room's Secret: two fresh tokens, the two links and
// the ICE servers with TURN credentials. It is immutable: a room's links
// never change.
func (o *RoomOptions) newLinksSecret(s *videov1alpha1.VideoSession, expiresAt time.Time) (*corev1.Secret, error) {
	therapist, err := jointoken.New()
	if err != nil {
		return nil, err
	}
	client, err := jointoken.New()
	if err != nil {
		return nil, err
	}
	ice, err := json.Marshal(o.ICEServers(s, expiresAt))
	if err != nil {
		return nil, fmt.Errorf("encoding ICE servers: %w", err)
	}
	return &corev1.Secret{
		ObjectMeta: childMeta(s, roomcontract.LinksSecretName(s)),
		Immutable:  ptr.To(true),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			roomcontract.SecretKeyTherapistToken: []byte(therapist),
			roomcontract.SecretKeyClientToken:    []byte(client),
			roomcontract.SecretKeyTherapistLink:  []byte(o.link(s, therapist)),
			roomcontract.SecretKeyClientLink:     []byte(o.link(s, client)),
			iceServersSecretKey:                  ice,
		},
	}, nil
}

// signalingConfig is what the signaling server is told: hashes of the
// tokens, never the tokens.
func (o *RoomOptions) signalingConfig(s *videov1alpha1.VideoSession, secret *corev1.Secret, expiresAt time.Time) (*signalingconfig.Config, error) {
	therapist, client := secret.Data[roomcontract.SecretKeyTherapistToken], secret.Data[roomcontract.SecretKeyClientToken]
	if len(therapist) == 0 || len(client) == 0 {
		return nil, fmt.Errorf("secret %s lacks the join tokens", secret.Name)
	}
	public, err := url.Parse(o.RoomURL(s))
	if err != nil {
		return nil, fmt.Errorf("room URL: %w", err)
	}
	return &signalingconfig.Config{
		Listen:           fmt.Sprintf(":%d", roomcontract.Port),
		SessionNamespace: s.Namespace,
		SessionName:      s.Name,
		TherapistToken:   jointoken.Of(string(therapist)),
		ClientToken:      jointoken.Of(string(client)),
		ExpiresAt:        expiresAt,
		StartsAt:         s.Spec.StartTime.Time,
		Admission:        admissionOf(s),
		PublicURL:        public,
		Language:         string(s.Spec.Language),
		TermsVersion:     o.TermsVersion,
		ReportStatus:     true,
		APIServer:        o.APIServer,
	}, nil
}

// admissionOf is the session's admission for the room; a session stored
// before the field existed has none and gets the default.
func admissionOf(s *videov1alpha1.VideoSession) signalingconfig.Admission {
	if s.Spec.Admission == videov1alpha1.AdmissionAutomatic {
		return signalingconfig.AdmissionAutomatic
	}
	return signalingconfig.AdmissionTherapist
}

// newPod makes the room's signaling Pod under the restricted Pod Security
// Standard. Its deadline ends it at expiry even when the operator is down.
func (o *RoomOptions) newPod(s *videov1alpha1.VideoSession, secret *corev1.Secret, now, expiresAt time.Time) (*corev1.Pod, error) {
	cfg, err := o.signalingConfig(s, secret, expiresAt)
	if err != nil {
		return nil, err
	}
	env := sortedEnv(cfg.Env())
	env = append(env, corev1.EnvVar{
		Name: signalingconfig.EnvICEServers,
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name},
			Key:                  iceServersSecretKey,
		}},
	})
	env = append(env, goMemLimitEnv(o.SignalingResources)...)
	env = append(env, o.ExtraEnv...)
	httpGet := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(roomcontract.PortName)}}
	}
	return &corev1.Pod{
		ObjectMeta: childMeta(s, roomcontract.RoomName(s)),
		Spec: corev1.PodSpec{
			ServiceAccountName:            RoomServiceAccount,
			AutomountServiceAccountToken:  ptr.To(true),
			EnableServiceLinks:            ptr.To(false),
			RestartPolicy:                 corev1.RestartPolicyOnFailure,
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			ActiveDeadlineSeconds:         ptr.To(int64((expiresAt.Sub(now) + podDeadlineGrace).Seconds())),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](signalingRunAsUser),
				RunAsGroup:     ptr.To[int64](signalingRunAsUser),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            signalingContainer,
				Image:           o.SignalingImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         o.SignalingCommand,
				Env:             env,
				Ports:           []corev1.ContainerPort{{Name: roomcontract.PortName, ContainerPort: roomcontract.Port, Protocol: corev1.ProtocolTCP}},
				Resources:       o.SignalingResources,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: httpGet("/readyz"), PeriodSeconds: 5, TimeoutSeconds: probes.TimeoutSeconds},
				LivenessProbe:  probes.Liveness(httpGet("/healthz")),
			}},
		},
	}, nil
}

// goMemLimitEnv sets the Go runtime's soft memory limit from the
// container's memory limit (memlimit.For); nothing without a limit.
func goMemLimitEnv(res corev1.ResourceRequirements) []corev1.EnvVar {
	limit, ok := res.Limits[corev1.ResourceMemory]
	if !ok || limit.Value() <= 0 {
		return nil
	}
	return []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: strconv.FormatInt(memlimit.For(limit), 10)}}
}

func sortedEnv(m map[string]string) []corev1.EnvVar {
	env := make([]corev1.EnvVar, 0, len(m))
	for k, v := range m {
		if v != "" {
			env = append(env, corev1.EnvVar{Name: k, Value: v})
		}
	}
	slices.SortFunc(env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	return env
}
