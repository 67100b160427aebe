// Package webhook is the VideoSession admission webhook: defaults, and the
// checks a schema cannot make because they depend on the time of the request.
package webhook

import (
	"context"
	"fmt"
	"slices"
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

// ValidateCreate refuses a session that would be expired already, one
// scheduled absurdly far ahead, or one with a finalizer.
func (w *VideoSessionWebhook) ValidateCreate(_ context.Context, s *videov1alpha1.VideoSession) (admission.Warnings, error) {
	errs := validateFinalizers(nil, s)
	errs = append(errs, w.validateTimes(s)...)
	return nil, invalid(s, errs)
}

// ValidateUpdate refuses an added finalizer and checks a changed schedule
// the same way as ValidateCreate while the room has not opened; once it
// has, the schema keeps the times from changing.
func (w *VideoSessionWebhook) ValidateUpdate(_ context.Context, oldSession, s *videov1alpha1.VideoSession) (admission.Warnings, error) {
	errs := validateFinalizers(oldSession, s)
	if !oldSession.Spec.StartTime.Equal(&s.Spec.StartTime) || !equalDuration(oldSession.Spec.ValidFor, s.Spec.ValidFor) {
		errs = append(errs, w.validateTimes(s)...)
	}
	return nil, invalid(s, errs)
}

// ValidateDelete allows every deletion: a portal may cancel any appointment.
func (w *VideoSessionWebhook) ValidateDelete(context.Context, *videov1alpha1.VideoSession) (admission.Warnings, error) {
	return nil, nil
}

// allowedFinalizers are the only finalizers a VideoSession may get: the
// garbage collector's, which it removes itself when it has dealt with the
// dependents. The operator uses none.
var allowedFinalizers = []string{metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents}

// validateFinalizers refuses finalizers that s has and oldSession (nil on
// create) had not, except allowedFinalizers: a foreign finalizer would keep
// an expired session, and its note, until somebody removed it. Removing a
// finalizer is always allowed.
func validateFinalizers(oldSession, s *videov1alpha1.VideoSession) field.ErrorList {
	path := field.NewPath("metadata", "finalizers")
	var errs field.ErrorList
	for i, f := range s.Finalizers {
		if slices.Contains(allowedFinalizers, f) || (oldSession != nil && slices.Contains(oldSession.Finalizers, f)) {
			continue
		}
		errs = append(errs, field.Forbidden(path.Index(i), fmt.Sprintf("finalizer %q is not allowed: it would keep the session and its note after expiry "+
			"(only the garbage collector's %q and %q are)", f, metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents)))
	}
	return errs
}

// invalid is the admission error for errs, nil if there are none.
func invalid(s *videov1alpha1.VideoSession, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(videov1alpha1.GroupVersion.WithKind("VideoSession").GroupKind(), s.Name, errs)
}

// validateTimes refuses a session that would be expired already or is
// scheduled more than MaxScheduleAhead ahead.
func (w *VideoSessionWebhook) validateTimes(s *videov1alpha1.VideoSession) field.ErrorList {
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
	return errs
}

func equalDuration(a, b *metav1.Duration) bool {
	return ptr.Deref(a, metav1.Duration{}) == ptr.Deref(b, metav1.Duration{})
}
