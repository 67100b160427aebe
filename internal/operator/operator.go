// Package operator assembles the manager: the VideoSession controller, its
// webhook and metrics, with a cache that holds only the operator's own
// objects. The manager binary, the tests, the benchmark and the local setup
// all start the operator through New, so they run the same code.
package operator

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/sessionmetrics"
	"github.com/sprechzimmer/sprechzimmer/webhook"
)

// Options configure the operator.
type Options struct {
	// Manager are controller-runtime's options (metrics, probes, leader
	// election, webhook server). Scheme and Cache are set by New.
	Manager ctrl.Options
	// Room configures the rooms.
	Room controllers.RoomOptions
	// Clock is the time source, of the controller's work queue too; nil
	// means the real clock.
	Clock clock.WithTicker
	// EnableWebhooks registers the admission webhooks.
	EnableWebhooks bool
	// MaxConcurrentReconciles bounds parallel reconciles.
	MaxConcurrentReconciles int
	// Namespaces limits the operator to these namespaces; empty means all.
	Namespaces []string
	// Metrics is where the session metrics are registered; nil means
	// controller-runtime's registry, which the manager serves.
	Metrics prometheus.Registerer
	// UsageLog receives the "session usage" lines; the zero value means
	// ctrl.Log.WithName("usage").
	UsageLog logr.Logger
}

// NewScheme returns a scheme with the built-in types and the VideoSession API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(videov1alpha1.AddToScheme(s))
	return s
}

// The operator's only cluster-scoped reads: New checks through
// controllers.CheckRoomPolicy that the room policy is installed. These
// markers make the ClusterRole manager-cluster-role (config/rbac/cluster),
// bound cluster-wide; everything the controller does in the sessions'
// namespaces is in manager-role (config/rbac), which a RoleBinding per
// watched namespace can grant instead (docs/permissions.md).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicybindings,verbs=list
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingadmissionpolicies,verbs=get

// New builds a manager that runs the operator; start it with Start. It
// fails when the cluster does not enforce the room policy (see
// controllers.CheckRoomPolicy).
func New(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	managed := labels.SelectorFromSet(labels.Set{roomcontract.LabelManagedBy: roomcontract.ManagedByValue})
	mo := opts.Manager
	mo.Scheme = NewScheme()
	mo.Cache = cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:         {Label: managed},
		&corev1.Pod{}:            {Label: managed},
		&corev1.Service{}:        {Label: managed},
		&corev1.ServiceAccount{}: {Label: managed},
		&rbacv1.Role{}:           {Label: managed},
		&rbacv1.RoleBinding{}:    {Label: managed},
	}}
	if len(opts.Namespaces) > 0 {
		mo.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			mo.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := controllers.CheckRoomPolicy(ctx, mgr.GetAPIReader()); err != nil {
		return nil, err
	}
	reg := opts.Metrics
	if reg == nil {
		reg = metrics.Registry
	}
	c := opts.Clock
	if c == nil {
		c = clock.RealClock{}
	}
	r := &controllers.VideoSessionReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("sprechzimmer-operator"),
		Clock:                   c,
		Room:                    opts.Room,
		Metrics:                 sessionmetrics.New(reg, mgr.GetCache(), c),
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		UsageLog:                opts.UsageLog,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	if opts.EnableWebhooks {
		if err := (&webhook.VideoSessionWebhook{Clock: c}).SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the webhook: %w", err)
		}
	}
	return mgr, nil
}
