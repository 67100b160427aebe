// Package controllers runs VideoSessions: it opens each room on time, keeps
// its status true, and deletes the session with everything it owns when the
// room expires.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/sessionmetrics"
)

// Event reasons. Events name no person, note, token or address.
const (
	ReasonRoomOpened         = "RoomOpened"
	ReasonSignalingRecreated = "SignalingPodRecreated"
	ReasonCallStarted        = "CallStarted"
	ReasonCallEnded          = "CallEnded"
	// ReasonForeignObject: an object with a room child's name that the
	// session does not control is in the way (see ForeignObjectError).
	ReasonForeignObject = videov1alpha1.ReasonForeignObject
)

// VideoSessionReconciler opens, runs and expires rooms.
type VideoSessionReconciler struct {
	client.Client
	// APIReader reads past the cache, for the check before a deletion.
	APIReader client.Reader
	// Recorder records lifecycle Events.
	Recorder events.EventRecorder
	// Clock is the time source of the reconciler and of its work queue's
	// delays; tests inject a fake one and move it.
	Clock clock.WithTicker
	// Room configures the rooms.
	Room RoomOptions
	// Metrics records session metrics.
	Metrics *sessionmetrics.Metrics
	// MaxConcurrentReconciles bounds parallel reconciles (default 8).
	MaxConcurrentReconciles int
	// UsageLog receives the one "session usage" line per expired session,
	// with no values of the reconcile (session name, namespace, reconcile
	// id); the zero value means ctrl.Log.WithName("usage").
	UsageLog logr.Logger
}

// maxRetryDelay bounds the back-off between retries of a failing session,
// and so how late a deadline can be when the reconcile before it failed (a
// failed reconcile's RequeueAfter is not used).
const maxRetryDelay = 30 * time.Second

// +kubebuilder:rbac:groups=video.sprechzimmer.dev,resources=videosessions,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=video.sprechzimmer.dev,resources=videosessions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets;services;serviceaccounts,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch;deletecollection

// Reconcile moves one session along: nothing before the room opens, the
// room's objects while it is open, deletion once it has expired. It comes
// back at the next deadline through RequeueAfter, which the work queue
// measures on the injected clock. The status is written in one place, after
// the phase's work, and its error is joined to the work's.
func (r *VideoSessionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	session := &videov1alpha1.VideoSession{}
	if err := r.Get(ctx, req.NamespacedName, session); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !session.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	before := session.DeepCopy()
	next, err := r.advance(ctx, session)
	if patchErr := r.patchStatus(ctx, before, session); patchErr != nil {
		if apierrors.IsConflict(patchErr) && err == nil {
			// A newer version exists; its watch event brings us back.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, errors.Join(err, patchErr)
	}
	r.recordPhaseChange(before, session)
	if err != nil || next.IsZero() {
		return ctrl.Result{}, err
	}
	// A deadline that passed during this pass is due at once.
	return ctrl.Result{RequeueAfter: max(next.Sub(r.Clock.Now()), time.Nanosecond)}, nil
}

// advance does the work of the session's phase and sets its status. It
// returns the next deadline, zero when there is none (the session is gone).
func (r *VideoSessionReconciler) advance(ctx context.Context, session *videov1alpha1.VideoSession) (time.Time, error) {
	now := r.Clock.Now()
	opensAt, expiresAt := session.Schedule()
	if !now.Before(expiresAt) {
		return r.expire(ctx, session)
	}
	session.Status.OpensAt = &metav1.Time{Time: opensAt}
	session.Status.ExpiresAt = &metav1.Time{Time: expiresAt}
	next := expiresAt
	var err error
	if now.Before(opensAt) {
		session.Status.Phase = videov1alpha1.PhaseScheduled
		setReady(session, metav1.ConditionFalse, videov1alpha1.ReasonScheduled, videov1alpha1.ReasonScheduled,
			"The room opens at "+opensAt.UTC().Format(time.RFC3339))
		next = opensAt
	} else {
		err = r.runRoom(ctx, session, now, expiresAt)
	}
	if err != nil {
		return time.Time{}, err
	}
	session.Status.ObservedGeneration = session.Generation
	return next, nil
}

// patchStatus writes the status, with an optimistic lock so that the
// operator never overwrites what the room reported meanwhile. It is the
// only place the operator writes a status.
func (r *VideoSessionReconciler) patchStatus(ctx context.Context, before, after *videov1alpha1.VideoSession) error {
	if equalStatus(before, after) {
		return nil
	}
	if err := r.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	return nil
}

func equalStatus(a, b *videov1alpha1.VideoSession) bool {
	x, y := a.Status.DeepCopy(), b.Status.DeepCopy()
	// Compare times at the second resolution the API stores.
	for _, s := range []*videov1alpha1.VideoSessionStatus{x, y} {
		for _, t := range []**metav1.Time{&s.OpensAt, &s.ExpiresAt} {
			if *t != nil {
				*t = &metav1.Time{Time: (*t).Rfc3339Copy().Time}
			}
		}
	}
	return equality.Semantic.DeepEqual(x, y)
}

// runRoom makes sure the room's objects exist and derives the status.
func (r *VideoSessionReconciler) runRoom(ctx context.Context, s *videov1alpha1.VideoSession, now, expiresAt time.Time) error {
	secret, opened, err := r.ensureLinksSecret(ctx, s, expiresAt)
	if err != nil {
		return r.reportForeign(s, err)
	}
	// The Pod's ServiceAccount first: the API server refuses a Pod whose
	// ServiceAccount does not exist.
	if err := r.ensureRoomAccount(ctx, s.Namespace); err != nil {
		return err
	}
	var pod *corev1.Pod
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, _, err := ensureChild(gctx, r, s, &corev1.Service{}, func() (*corev1.Service, error) {
			return roomcontract.NewService(s, expiresAt), nil
		})
		return err
	})
	g.Go(func() (err error) {
		pod, err = r.ensurePod(gctx, s, secret, !opened, now, expiresAt)
		return err
	})
	if err := g.Wait(); err != nil {
		return r.reportForeign(s, err)
	}

	if s.Status.OpenedAt == nil {
		s.Status.OpenedAt = &metav1.Time{Time: now}
	}
	if opened {
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonRoomOpened, "Open", "The room is open until %s", expiresAt.UTC().Format(time.RFC3339))
	}
	s.Status.URL = r.Room.RoomURL(s)
	s.Status.LinksSecretName = secret.Name
	s.Status.Phase = callPhase(s)
	if podReady(pod) {
		setReady(s, metav1.ConditionTrue, videov1alpha1.ReasonRoomOpen, "SignalingReady", "The signaling server accepts connections")
	} else {
		setReady(s, metav1.ConditionFalse, videov1alpha1.ReasonOpening, "SignalingStarting", "The signaling server is starting")
	}
	return nil
}

// setReady sets the Ready summary with reason and RoomReady with roomReason
// (its reasons of v1alpha1), both with status and message.
func setReady(s *videov1alpha1.VideoSession, status metav1.ConditionStatus, reason, roomReason, message string) {
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: videov1alpha1.ConditionReady, Status: status, Reason: reason, Message: message, ObservedGeneration: s.Generation,
	})
	meta.SetStatusCondition(&s.Status.Conditions, metav1.Condition{
		Type: videov1alpha1.ConditionRoomReady, Status: status, Reason: roomReason, Message: message, ObservedGeneration: s.Generation,
	})
}

// callPhase derives the phase of an open room from what the room reported.
func callPhase(s *videov1alpha1.VideoSession) videov1alpha1.Phase {
	switch {
	case s.Status.StartedAt == nil:
		return videov1alpha1.PhaseOpen
	case s.Status.EndedAt != nil:
		return videov1alpha1.PhaseEnded
	default:
		return videov1alpha1.PhaseInProgress
	}
}

func (r *VideoSessionReconciler) recordPhaseChange(before, after *videov1alpha1.VideoSession) {
	if before.Status.Phase == after.Status.Phase {
		return
	}
	switch after.Status.Phase {
	case videov1alpha1.PhaseInProgress:
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, ReasonCallStarted, "Start", "Both participants are in the room")
	case videov1alpha1.PhaseEnded:
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, ReasonCallEnded, "End", "The call has ended")
	}
}

// ensureLinksSecret returns the room's Secret, making it with fresh tokens
// the first time, and reports whether it made it. The tokens never change
// after that: when the cache has not seen the Secret yet but the API server
// has it, the stored one is read, never a second set of tokens used.
func (r *VideoSessionReconciler) ensureLinksSecret(ctx context.Context, s *videov1alpha1.VideoSession, expiresAt time.Time) (*corev1.Secret, bool, error) {
	return ensureChild(ctx, r, s, &corev1.Secret{}, func() (*corev1.Secret, error) {
		return r.Room.newLinksSecret(s, expiresAt)
	})
}

// ensurePod keeps exactly one signaling Pod while the room is open: its
// name is fixed, so a second one cannot exist. A stopped Pod is deleted and
// a new one made on the next pass. wasOpen says the room had opened before
// this pass, so a Pod made now replaces a lost one. A Pod of that name that
// the session does not control is deleted at once (no grace: it must not
// serve the room's links a moment longer) and the room's own made on the
// next pass.
func (r *VideoSessionReconciler) ensurePod(ctx context.Context, s *videov1alpha1.VideoSession, secret *corev1.Secret, wasOpen bool, now, expiresAt time.Time) (*corev1.Pod, error) {
	pod, created, err := ensureChild(ctx, r, s, &corev1.Pod{}, func() (*corev1.Pod, error) {
		return r.Room.newPod(s, secret, now, expiresAt)
	})
	var foreign *ForeignObjectError
	switch {
	case errors.As(err, &foreign):
		uid := foreign.Object.GetUID()
		if err := r.Delete(ctx, foreign.Object, client.Preconditions{UID: &uid}, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			return nil, errors.Join(foreign, fmt.Errorf("deleting it: %w", err))
		}
		foreign.Replaced = true
		return nil, foreign
	case err != nil:
		return nil, err
	case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
		uid := pod.UID
		if err := r.Delete(ctx, pod, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("deleting the stopped signaling pod: %w", err)
		}
	case created && wasOpen:
		r.Metrics.PodRecreated()
		r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonSignalingRecreated, "Recreate", "The signaling pod was gone and has been recreated")
	}
	return pod, nil
}

// ForeignObjectError says that an object has the name of one of a room's
// children but the session does not control it (no controller reference
// with the session's UID): someone else made it, by mistake or to capture
// the room's traffic. The operator never uses such an object.
type ForeignObjectError struct {
	// Object is the object in the way.
	Object client.Object
	// Replaced is true when the operator deleted it to make the room's own.
	Replaced bool
}

func (e *ForeignObjectError) Error() string {
	return fmt.Sprintf("%s %s is not controlled by this session", kindOf(e.Object), e.Object.GetName())
}

// kindOf names obj's kind for messages: Pod, Service, Secret.
func kindOf(obj client.Object) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1.")
}

// reportForeign tells, in an Event and the RoomReady condition, that a
// foreign object keeps the room from opening or was replaced; err is
// returned as it is, so that the pass is retried.
func (r *VideoSessionReconciler) reportForeign(s *videov1alpha1.VideoSession, err error) error {
	var foreign *ForeignObjectError
	if !errors.As(err, &foreign) {
		return err
	}
	what := fmt.Sprintf("%s %s is in the room's place and is not controlled by this session", kindOf(foreign.Object), foreign.Object.GetName())
	msg := what + "; the room does not open until it is removed"
	if foreign.Replaced {
		msg = what + "; it has been deleted and the room's own is being made"
	}
	r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonForeignObject, "Refuse", "%s", msg)
	setReady(s, metav1.ConditionFalse, ReasonForeignObject, ReasonForeignObject, msg)
	return err
}

// ensureChild returns the session's child of the name and kind build makes:
// the one in the cache, or the one build makes, created now; created says
// which. An object of that name that the session does not control is
// returned as a *ForeignObjectError, never used. The cache holds only what
// is labelled as the operator's, so an object it lacks may still be in the
// API: then the create fails and the object is read past the cache.
func ensureChild[T client.Object](ctx context.Context, r *VideoSessionReconciler, s *videov1alpha1.VideoSession, current T, build func() (T, error)) (obj T, created bool, err error) {
	var zero T
	key := types.NamespacedName{Namespace: s.Namespace, Name: childName(s, current)}
	switch err := r.Get(ctx, key, current); {
	case err == nil:
		obj, err := controlled(s, current)
		return obj, false, err
	case !apierrors.IsNotFound(err):
		return zero, false, fmt.Errorf("reading %s %s: %w", kindOf(current), key.Name, err)
	}
	want, err := build()
	if err != nil {
		return zero, false, err
	}
	if err := controllerutil.SetControllerReference(s, want, r.Scheme()); err != nil {
		return zero, false, fmt.Errorf("owning %s: %w", kindOf(want), err)
	}
	err = r.Create(ctx, want)
	switch {
	case err == nil:
		return want, true, nil
	case !apierrors.IsAlreadyExists(err):
		return zero, false, fmt.Errorf("creating %s %s: %w", kindOf(want), key.Name, err)
	}
	if err := r.APIReader.Get(ctx, key, current); err != nil {
		return zero, false, fmt.Errorf("reading %s %s: %w", kindOf(current), key.Name, err)
	}
	obj, err = controlled(s, current)
	return obj, false, err
}

// childName is the name of the session's child of obj's kind: the links
// Secret, or the room's Pod and Service.
func childName(s *videov1alpha1.VideoSession, obj client.Object) string {
	if _, ok := obj.(*corev1.Secret); ok {
		return roomcontract.LinksSecretName(s)
	}
	return roomcontract.RoomName(s)
}

// controlled returns obj if s controls it, else a *ForeignObjectError.
func controlled[T client.Object](s *videov1alpha1.VideoSession, obj T) (T, error) {
	if !metav1.IsControlledBy(obj, s) {
		var zero T
		return zero, &ForeignObjectError{Object: obj}
	}
	return obj, nil
}

// exists reports whether the cache holds an object of obj's kind and name.
func (r *VideoSessionReconciler) exists(ctx context.Context, obj client.Object) bool {
	probe, ok := obj.DeepCopyObject().(client.Object)
	return ok && r.Get(ctx, client.ObjectKeyFromObject(obj), probe) == nil
}

// deletionTimeout bounds the deletion of an expired session and its
// Events, which a stopping operator still finishes.
const deletionTimeout = 30 * time.Second

// expire deletes an expired session like Kubernetes' TTL-after-finished
// controller: the decision is checked against a fresh read from the API
// server, not the cache, and the deletion carries a UID precondition; the
// session's children go by garbage collection, its Events by
// deleteEvents. Only one deletion of a UID can succeed, so the metrics
// observed after it are observed exactly once per session, by whichever
// operator replica deleted it. It returns the
// session's deadline when the fresh read shows it has not passed yet, and
// the zero time otherwise. When the deletion fails, it sets the phase to
// Expired on cached, for the caller's status write, so that the session
// shows why it is still there; the deletion is retried.
func (r *VideoSessionReconciler) expire(ctx context.Context, cached *videov1alpha1.VideoSession) (time.Time, error) {
	session := &videov1alpha1.VideoSession{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), session); err != nil {
		return time.Time{}, client.IgnoreNotFound(err)
	}
	if session.UID != cached.UID || !session.DeletionTimestamp.IsZero() {
		return time.Time{}, nil
	}
	now := r.Clock.Now()
	_, expiresAt := session.Schedule()
	if now.Before(expiresAt) {
		return expiresAt, nil
	}
	// A deletion once sent is finished and recorded even when the operator
	// is being stopped meanwhile: otherwise the session goes while its
	// metrics, usage line and Events go unhandled with the stopped
	// reconcile, and no replica finds it again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deletionTimeout)
	defer cancel()
	uid := session.UID
	err := r.Delete(ctx, session, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return time.Time{}, nil // gone already, or a new session of the same name: not ours to delete
	}
	if err != nil {
		cached.Status.Phase = videov1alpha1.PhaseExpired
		setReady(cached, metav1.ConditionFalse, videov1alpha1.ReasonExpired, videov1alpha1.ReasonExpired,
			"The room has expired; its deletion is retried")
		return time.Time{}, fmt.Errorf("deleting the expired session: %w", err)
	}
	r.Metrics.SessionExpired(session, expiresAt)
	r.Metrics.SessionDeleted(now.Sub(expiresAt))
	r.logUsage(ctx, session, expiresAt)
	r.deleteEvents(ctx, session)
	logf.FromContext(ctx).V(1).Info("deleted expired session", "lag", now.Sub(expiresAt).String())
	return time.Time{}, nil
}

// deleteEvents deletes the Events about an expired session (RoomOpened,
// CallStarted, ...), which would name it until the API server's event TTL
// (an hour by default): nothing of a session stays after it. A failure is
// logged, not retried; the TTL removes them then.
func (r *VideoSessionReconciler) deleteEvents(ctx context.Context, s *videov1alpha1.VideoSession) {
	err := r.DeleteAllOf(ctx, &eventsv1.Event{}, client.InNamespace(s.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("regarding.uid", string(s.UID))})
	if err != nil {
		logf.FromContext(ctx).Error(err, "deleting the expired session's events; the event TTL removes them")
	}
}

// logUsage writes the one record the product keeps of a session: the
// opaque therapist reference, the date and the length. No note, no name,
// and not the context's logger, which names the session.
func (r *VideoSessionReconciler) logUsage(_ context.Context, s *videov1alpha1.VideoSession, expiresAt time.Time) {
	d, held := sessionmetrics.Duration(s, expiresAt)
	log := r.UsageLog
	if log.GetSink() == nil {
		log = ctrl.Log.WithName("usage")
	}
	log.Info("session usage",
		"therapistRef", s.Spec.TherapistRef,
		"date", s.Spec.StartTime.UTC().Format(time.DateOnly),
		"held", held,
		"durationSeconds", int64(d.Seconds()))
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func ignoreCreate(event.CreateEvent) bool { return false }

var onlyDeletes = builder.WithPredicates(predicate.Funcs{
	CreateFunc:  ignoreCreate,
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
})

// SetupWithManager registers the controller. Its work queue measures
// RequeueAfter on the reconciler's clock, so that an injected clock drives
// opening and expiry.
func (r *VideoSessionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 8
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&videov1alpha1.VideoSession{}).
		// The operator made the children itself: their creation tells it
		// nothing. A child's loss does, and so do the Pod's status changes.
		Owns(&corev1.Pod{}, builder.WithPredicates(predicate.Funcs{CreateFunc: ignoreCreate})).
		Owns(&corev1.Secret{}, onlyDeletes).
		Owns(&corev1.Service{}, onlyDeletes).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryDelay),
				&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
			),
			NewQueue: func(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
				return workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{Name: name, Clock: r.Clock})
			},
		}).
		Named("videosession").
		Complete(r)
}
