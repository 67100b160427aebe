// Package controllers runs VideoSessions: it opens each room on time, keeps
// its status true, and deletes the session with everything it owns when the
// room expires.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

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
		return err
	}
	// The Pod's ServiceAccount first: the API server refuses a Pod whose
	// ServiceAccount does not exist.
	if err := r.ensureRoomAccount(ctx, s.Namespace); err != nil {
		return err
	}
	var pod *corev1.Pod
	g, gctx := errgroup.WithContext(ctx)
	if service := roomcontract.NewService(s, expiresAt); !r.exists(gctx, service) {
		g.Go(func() error {
			_, err := r.createOwned(gctx, s, service)
			return err
		})
	}
	g.Go(func() (err error) {
		pod, err = r.ensurePod(gctx, s, secret, !opened, now, expiresAt)
		return err
	})
	if err := g.Wait(); err != nil {
		return err
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
	ready := metav1.Condition{Type: videov1alpha1.ConditionRoomReady, Status: metav1.ConditionFalse, Reason: "SignalingStarting", Message: "The signaling server is starting", ObservedGeneration: s.Generation}
	if podReady(pod) {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, "SignalingReady", "The signaling server accepts connections"
	}
	meta.SetStatusCondition(&s.Status.Conditions, ready)
	return nil
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
	key := types.NamespacedName{Namespace: s.Namespace, Name: roomcontract.LinksSecretName(s)}
	secret := &corev1.Secret{}
	err := r.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		if secret, err = r.Room.newLinksSecret(s, expiresAt); err != nil {
			return nil, false, err
		}
		var created bool
		if created, err = r.createOwned(ctx, s, secret); err != nil || created {
			return secret, created, err
		}
		secret = &corev1.Secret{}
		err = r.APIReader.Get(ctx, key, secret)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the links secret: %w", err)
	}
	if !metav1.IsControlledBy(secret, s) {
		return nil, false, fmt.Errorf("secret %s exists and does not belong to this session", secret.Name)
	}
	return secret, false, nil
}

// ensurePod keeps exactly one signaling Pod while the room is open: its
// name is fixed, so a second one cannot exist. A stopped Pod is deleted and
// a new one made on the next pass. wasOpen says the room had opened before
// this pass, so a Pod made now replaces a lost one.
func (r *VideoSessionReconciler) ensurePod(ctx context.Context, s *videov1alpha1.VideoSession, secret *corev1.Secret, wasOpen bool, now, expiresAt time.Time) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: roomcontract.RoomName(s)}, pod)
	switch {
	case err == nil && (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded):
		uid := pod.UID
		if err := r.Delete(ctx, pod, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("deleting the stopped signaling pod: %w", err)
		}
		return pod, nil
	case err == nil:
		return pod, nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading the signaling pod: %w", err)
	}
	if pod, err = r.Room.newPod(s, secret, now, expiresAt); err != nil {
		return nil, err
	}
	created, err := r.createOwned(ctx, s, pod)
	if err != nil {
		return nil, err
	}
	if created && wasOpen {
		r.Metrics.PodRecreated()
		r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonSignalingRecreated, "Recreate", "The signaling pod was gone and has been recreated")
	}
	return pod, nil
}

// exists reports whether the cache holds an object of obj's kind and name.
func (r *VideoSessionReconciler) exists(ctx context.Context, obj client.Object) bool {
	probe, ok := obj.DeepCopyObject().(client.Object)
	return ok && r.Get(ctx, client.ObjectKeyFromObject(obj), probe) == nil
}

// createOwned creates obj owned by the session and reports whether it did;
// an object that already exists is left alone (children never change while
// the room is open).
func (r *VideoSessionReconciler) createOwned(ctx context.Context, s *videov1alpha1.VideoSession, obj client.Object) (bool, error) {
	if err := controllerutil.SetControllerReference(s, obj, r.Scheme()); err != nil {
		return false, fmt.Errorf("owning %T: %w", obj, err)
	}
	err := r.Create(ctx, obj)
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return true, nil
}

// expire deletes an expired session like Kubernetes' TTL-after-finished
// controller: the decision is checked against a fresh read from the API
// server, not the cache, and the deletion carries a UID precondition; the
// session's children go by garbage collection. Only one deletion of a UID
// can succeed, so the metrics observed after it are observed exactly once
// per session, by whichever operator replica deleted it. It returns the
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
	uid := session.UID
	err := r.Delete(ctx, session, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return time.Time{}, nil // gone already, or a new session of the same name: not ours to delete
	}
	if err != nil {
		cached.Status.Phase = videov1alpha1.PhaseExpired
		return time.Time{}, fmt.Errorf("deleting the expired session: %w", err)
	}
	r.Metrics.SessionExpired(session, expiresAt)
	r.Metrics.SessionDeleted(now.Sub(expiresAt))
	r.logUsage(ctx, session, expiresAt)
	logf.FromContext(ctx).V(1).Info("deleted expired session", "lag", now.Sub(expiresAt).String())
	return time.Time{}, nil
}

// logUsage writes the one record the product keeps of a session: the
// opaque therapist reference, the date and the length. No note, no name.
func (r *VideoSessionReconciler) logUsage(ctx context.Context, s *videov1alpha1.VideoSession, expiresAt time.Time) {
	d, held := sessionmetrics.Duration(s, expiresAt)
	logf.FromContext(ctx).Info("session usage",
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
