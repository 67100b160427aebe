// Package webhook is the VideoSession admission webhook: defaults, and the
// checks a schema cannot make because they depend on the time of the request.
package webhook

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
)

// MaxScheduleAhead is how far ahead a session may be scheduled.
const MaxScheduleAhead = 366 * 24 * time.Hour

// VideoSessionWebhook defaults and validates VideoSessions.
type VideoSessionWebhook struct {
	// Clock is the time source; tests inject a fake one.
	Clock clock.PassiveClock
}

// +kubebuilder:webhook:path=/mutate-video-sprechzimmer-dev-v1alpha1-videosession,mutating=true,failurePolicy=fail,sideEffects=None,groups=video.sprechzimmer.dev,resources=videosessions,verbs=create;update,versions=v1alpha1,name=mvideosession.sprechzimmer.dev,admissionReviewVersions=v1
// +kubebuilder:webhook:path=/validate-video-sprechzimmer-dev-v1alpha1-videosession,mutating=false,failurePolicy=fail,sideEffects=None,groups=video.sprechzimmer.dev,resources=videosessions,verbs=create;update,versions=v1alpha1,name=vvideosession.sprechzimmer.dev,admissionReviewVersions=v1

// SetupWithManager registers both webhooks with the manager's webhook server.
func (w *VideoSessionWebhook) SetupWithManager(mgr ctrl.Manager) error {
	if w.Clock == nil {
		w.Clock = clock.RealClock{}
	}
	return ctrl.NewWebhookManagedBy(mgr, &videov1alpha1.VideoSession{}).
		WithDefaulter(w).
		WithValidator(w).
		Complete()
}

// Default applies the API's defaults.
func (w *VideoSessionWebhook) Default(_ context.Context, s *videov1alpha1.VideoSession) error {
	s.Default()
	return nil
}

// ValidateCreate refuses a session that would be expired already, or one
// scheduled absurdly far ahead.
func (w *VideoSessionWebhook) ValidateCreate(_ context.Context, s *videov1alpha1.VideoSession) (admission.Warnings, error) {
	return nil, w.validateTimes(s)
}

// ValidateUpdate checks a changed schedule the same way while the room has
// not opened; once it has, the schema keeps the times from changing.
func (w *VideoSessionWebhook) ValidateUpdate(_ context.Context, oldSession, s *videov1alpha1.VideoSession) (admission.Warnings, error) {
	if oldSession.Spec.StartTime.Equal(&s.Spec.StartTime) && equalDuration(oldSession.Spec.ValidFor, s.Spec.ValidFor) {
		return nil, nil
	}
	return nil, w.validateTimes(s)
}

// ValidateDelete allows every deletion: a portal may cancel any appointment.
func (w *VideoSessionWebhook) ValidateDelete(context.Context, *videov1alpha1.VideoSession) (admission.Warnings, error) {
	return nil, nil
}

func (w *VideoSessionWebhook) validateTimes(s *videov1alpha1.VideoSession) error {
	now := w.Clock.Now()
	_, expiresAt := s.Schedule()
	start := field.NewPath("spec", "startTime")
	var errs field.ErrorList
	if !now.Before(expiresAt) {
		errs = append(errs, field.Invalid(start, s.Spec.StartTime.UTC().Format(time.RFC3339),
			"is too far in the past: the session would have expired at "+expiresAt.UTC().Format(time.RFC3339)))
	}
	if s.Spec.StartTime.Sub(now) > MaxScheduleAhead {
		errs = append(errs, field.Invalid(start, s.Spec.StartTime.UTC().Format(time.RFC3339), "is more than 366 days ahead"))
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(videov1alpha1.GroupVersion.WithKind("VideoSession").GroupKind(), s.Name, errs)
}

func equalDuration(a, b *metav1.Duration) bool {
	return ptr.Deref(a, metav1.Duration{}) == ptr.Deref(b, metav1.Duration{})
}
