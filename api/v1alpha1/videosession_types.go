package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults and bounds of a session's times. The schema markers below repeat
// them, because markers cannot refer to constants.
const (
	// DefaultValidFor is how long a room stays valid after the appointment's start.
	DefaultValidFor = 4 * time.Hour
	// MaxValidFor is the longest validity a session may ask for.
	MaxValidFor = 12 * time.Hour
	// MinValidFor is the shortest validity a session may ask for.
	MinValidFor = 15 * time.Minute
	// DefaultOpensBefore is how early the room opens before the start.
	DefaultOpensBefore = 15 * time.Minute
	// MaxOpensBefore is the earliest a room may open before the start.
	MaxOpensBefore = 2 * time.Hour
)

// Language is a user interface language of the browser client.
// +kubebuilder:validation:Enum=de;en
type Language string

const (
	// LanguageGerman is German, the default.
	LanguageGerman Language = "de"
	// LanguageEnglish is English.
	LanguageEnglish Language = "en"
)

// Admission is who lets the client into the call.
// +kubebuilder:validation:Enum=Therapist;Automatic
type Admission string

const (
	// AdmissionTherapist means the client waits in the waiting room until the
	// therapist lets them in; the default.
	AdmissionTherapist Admission = "Therapist"
	// AdmissionAutomatic means the client enters the call without waiting
	// for the therapist's admission.
	AdmissionAutomatic Admission = "Automatic"
)

// VideoSessionSpec is what the therapist portal asks for: one appointment.
type VideoSessionSpec struct {
	// startTime is when the appointment begins (RFC 3339). The room opens
	// opensBefore earlier and is deleted, with everything it owns, validFor
	// later. It cannot change once the room has opened.
	// +required
	StartTime metav1.Time `json:"startTime"`

	// validFor is how long after startTime the room stays valid, between 15m
	// and 12h (default 4h). When it has passed, the session and everything
	// it owns are deleted.
	// +optional
	// +default="4h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('15m') && duration(self) <= duration('12h')",message="validFor must be between 15m and 12h"
	ValidFor *metav1.Duration `json:"validFor,omitempty"`

	// opensBefore is how long before startTime the room opens, between 0s
	// and 2h (default 15m). Before that, the session costs nothing: no Pod runs.
	// +optional
	// +default="15m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('2h')",message="opensBefore must be between 0s and 2h"
	OpensBefore *metav1.Duration `json:"opensBefore,omitempty"`

	// note is the therapist's own note on the appointment, at most 500
	// characters. It is shown to nobody but the portal, never logged, and
	// deleted with the session. Keep client names out of it. Control
	// characters (NUL, escape, C1, ...) are refused; tabs and line breaks are
	// fine. The check is CEL with reason Forbidden, not a pattern: the
	// error of a pattern or of a CEL rule without that reason repeats the
	// note.
	// +optional
	// +kubebuilder:validation:MaxLength=500
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]')`,message="note must not contain control characters (tabs and line breaks are allowed)",reason=FieldValueForbidden
	Note string `json:"note,omitempty"`

	// therapistRef is an opaque reference to the therapist, chosen by the
	// portal, for usage statistics (date and length of sessions). Letters,
	// digits, '.', '_' and '-', at most 64 characters. Never a name.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[A-Za-z0-9._-]*$')`,message="therapistRef may contain only letters A-Z and a-z, digits, '.', '_' and '-' (an opaque reference, never a name)",reason=FieldValueForbidden
	TherapistRef string `json:"therapistRef,omitempty"`

	// language is the browser client's default language, "de" (default) or
	// "en"; a browser set to English shows English either way.
	// +optional
	// +default="de"
	Language Language `json:"language,omitempty"`

	// admission is who lets the client into the call: "Therapist" (default),
	// the client waits in the waiting room until the therapist admits them;
	// or "Automatic", the client enters at once. The room's server enforces
	// it, not the page. The room reads it when it opens.
	// +optional
	// +default="Therapist"
	Admission Admission `json:"admission,omitempty"`
}

// Phase is where a session is in its life.
// +kubebuilder:validation:Enum=Scheduled;Open;InProgress;Ended;Expired
type Phase string

const (
	// PhaseScheduled means the room has not opened yet; nothing runs.
	PhaseScheduled Phase = "Scheduled"
	// PhaseOpen means the room is open and the call has not started: nobody
	// or one person is there.
	PhaseOpen Phase = "Open"
	// PhaseInProgress means both people are or were in the call and it has
	// not ended.
	PhaseInProgress Phase = "InProgress"
	// PhaseEnded means the call has ended; the room stays open until it
	// expires, so the two can still come back.
	PhaseEnded Phase = "Ended"
	// PhaseExpired means the validity has passed and the deletion failed;
	// the operator retries it.
	PhaseExpired Phase = "Expired"
)

// Condition types of a session.
const (
	// ConditionReady is the summary a portal waits on
	// (kubectl wait --for=condition=Ready): True while the room is open and
	// its signaling server accepts connections; False with a reason
	// (ReasonScheduled, ReasonOpening, ReasonForeignObject, ReasonExpired)
	// otherwise.
	ConditionReady = "Ready"
	// ConditionRoomReady is true when the room's signaling Pod is ready;
	// False with reason ReasonScheduled before the room opens. Ready says
	// the same and more; RoomReady stays for readers of v1alpha1.
	ConditionRoomReady = "RoomReady"
)

// Reasons of the Ready and RoomReady conditions.
const (
	// ReasonScheduled: the room has not opened yet (status.opensAt).
	ReasonScheduled = "Scheduled"
	// ReasonOpening: the room is open and its signaling server is starting.
	ReasonOpening = "Opening"
	// ReasonRoomOpen: the room is open and accepts connections.
	ReasonRoomOpen = "RoomOpen"
	// ReasonForeignObject: an object the session does not control is in the
	// place of one of the room's, and the room does not open until it is gone.
	ReasonForeignObject = "ForeignObject"
	// ReasonExpired: the validity has passed and the deletion is retried.
	ReasonExpired = "Expired"
)

// VideoSessionStatus is what the operator and the room report. The room
// writes only participants, startedAt, endedAt and refusedJoins (RoomFields);
// everything else is the operator's, and the room policy in config/policy
// refuses any change a room makes to it.
type VideoSessionStatus struct {
	// conditions are the latest observations of the session's state: Ready,
	// the summary a portal waits on, and RoomReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// phase is where the session is in its life: Scheduled, Open,
	// InProgress, Ended or Expired.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// opensAt is when the room opens: startTime minus opensBefore.
	// +optional
	OpensAt *metav1.Time `json:"opensAt,omitempty"`

	// expiresAt is when the room expires and the session is deleted:
	// startTime plus validFor.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// openedAt is when the operator opened the room. From then on the
	// session's times cannot change.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`

	// startedAt is when both people were first in the room together,
	// reported by the room.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// endedAt is when the call ended, reported by the room; it is cleared
	// when both come back.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`

	// participants is how many people are in the room now (0 to 2),
	// reported by the room. It is 0 until the room reports, so that it shows
	// as 0, not as nothing (the API server fills in the default).
	// +optional
	// +default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2
	Participants int32 `json:"participants,omitempty"`

	// refusedJoins counts the attempts to enter that the room refused
	// (room full, link not valid, no consent), reported by the room. It is
	// for people reading the session; the room's own metric
	// sprechzimmer_signaling_join_refusals_total is where refusals are
	// counted for monitoring.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RefusedJoins int32 `json:"refusedJoins,omitempty"`

	// url is the room's public address, without any secret. The personal
	// links are in the Secret named by linksSecretName.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// linksSecretName is the name of the Secret, in the session's namespace,
	// that holds the two personal links (keys therapist-link, client-link).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	LinksSecretName string `json:"linksSecretName,omitempty"`

	// observedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RoomStatusFields are the status fields, by JSON name, that a room reports
// about its own session. Every other status field is the operator's. The
// room policy (config/policy) allows a room to change these and nothing
// else; a test in this package fails when the two lists differ or when a
// status field is added without saying whose it is.
var RoomStatusFields = []string{"participants", "startedAt", "endedAt", "refusedJoins"}

// VideoSession is one appointment's temporary consultation room that exactly
// two people may enter: the therapist and the invited client.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vsession,categories=sprechzimmer
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Start",type=string,JSONPath=`.spec.startTime`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Participants",type=integer,JSONPath=`.status.participants`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 48",message="metadata.name must start with a letter, contain only lower-case letters, digits and '-', and be at most 48 characters (it names the room's Service)"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.openedAt) || (self.spec.startTime == oldSelf.spec.startTime && has(self.spec.validFor) == has(oldSelf.spec.validFor) && (!has(self.spec.validFor) || self.spec.validFor == oldSelf.spec.validFor) && has(self.spec.opensBefore) == has(oldSelf.spec.opensBefore) && (!has(self.spec.opensBefore) || self.spec.opensBefore == oldSelf.spec.opensBefore))",message="spec.startTime, spec.validFor and spec.opensBefore cannot change once the room has opened"
type VideoSession struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the appointment the portal asks for.
	// +required
	Spec VideoSessionSpec `json:"spec"`

	// status is what the operator and the room report.
	// +optional
	Status VideoSessionStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VideoSessionList is a list of VideoSessions.
type VideoSessionList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the sessions.
	Items []VideoSession `json:"items"`
}

// Default fills what the portal left out with the defaults; the schema
// applies the same defaults on the server.
func (s *VideoSession) Default() {
	if s.Spec.ValidFor == nil {
		s.Spec.ValidFor = &metav1.Duration{Duration: DefaultValidFor}
	}
	if s.Spec.OpensBefore == nil {
		s.Spec.OpensBefore = &metav1.Duration{Duration: DefaultOpensBefore}
	}
	if s.Spec.Language == "" {
		s.Spec.Language = LanguageGerman
	}
}

// Schedule returns when the room opens and when it expires, computed from
// the spec with defaults applied.
func (s *VideoSession) Schedule() (opensAt, expiresAt time.Time) {
	spec := s.DeepCopy()
	spec.Default()
	start := s.Spec.StartTime.Time
	return start.Add(-spec.Spec.OpensBefore.Duration), start.Add(spec.Spec.ValidFor.Duration)
}
