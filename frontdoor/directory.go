package frontdoor

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

// DefaultClusterDomain is the DNS domain of a cluster's Services unless the
// cluster says otherwise.
const DefaultClusterDomain = "cluster.local"

// roomIndex indexes the cached Services by their room label.
const roomIndex = "room"

// DirectoryOptions configure a Directory.
type DirectoryOptions struct {
	// Namespaces limits the watch to these namespaces; empty means all.
	Namespaces []string
	// ClusterDomain is the DNS domain of the cluster's Services; empty
	// means DefaultClusterDomain.
	ClusterDomain string
	// Clock decides whether a room has expired; nil means the real clock.
	Clock clock.PassiveClock
}

// IgnoredNoSession is the reason, besides roomcontract's Problems, that a
// Service is not routed to: no VideoSession with the Service's room id as
// UID exists in the Service's own namespace under the owner's name. A
// look-alike Service in another namespace that copies a room's labels and
// owner reference is ignored for it, and the real room keeps answering.
const IgnoredNoSession = "no-session"

// ignoredReasons are the label values of the ignored-services metric.
var ignoredReasons = []string{
	roomcontract.ProblemLabels, roomcontract.ProblemType, roomcontract.ProblemOwner,
	roomcontract.ProblemExpired, roomcontract.ProblemPort, IgnoredNoSession,
}

// Directory finds a room's signaling Service in an informer cache of the
// rooms' Services the operator made (labels managed-by and component=room,
// selected by the API server: no other Service reaches the front door),
// indexed by room id, and of the VideoSessions' metadata (name and UID,
// nothing of spec or status): a Service is routed to only while the session that controls it
// exists in its namespace. A lookup is two map accesses; nothing is asked
// of the API server per request.
//
// Directory is a prometheus.Collector of the gauge
// sprechzimmer_frontdoor_ignored_services: the cached Services not routed
// to, by reason (roomcontract's Problems and IgnoredNoSession).
type Directory struct {
	cache   cache.Cache
	domain  string
	clock   clock.PassiveClock
	synced  atomic.Bool
	ignored *prometheus.Desc
}

// NewDirectory builds a Directory; run it with Start.
func NewDirectory(cfg *rest.Config, opts DirectoryOptions) (*Directory, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	// Only the rooms' Services: the operator's label and the room component.
	rooms := labels.SelectorFromSet(labels.Set{roomcontract.LabelManagedBy: roomcontract.ManagedByValue, roomcontract.LabelComponent: roomcontract.ComponentRoom})
	co := cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Service{}: {Label: rooms, Transform: cache.TransformStripManagedFields()},
			newSessionMeta():  {Transform: keepIdentity},
		},
		// Only Services and sessions' metadata are cached; a lookup of
		// anything else is a bug.
		ReaderFailOnMissingInformer: true,
	}
	if len(opts.Namespaces) > 0 {
		co.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			co.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(cfg, co)
	if err != nil {
		return nil, fmt.Errorf("creating the service cache: %w", err)
	}
	err = c.IndexField(context.Background(), &corev1.Service{}, roomIndex, func(o client.Object) []string {
		if id := o.GetLabels()[roomcontract.LabelRoom]; id != "" {
			return []string{id}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing services by room: %w", err)
	}
	// The session informer, made now: with ReaderFailOnMissingInformer a
	// lookup does not make one.
	if _, err := c.GetInformer(context.Background(), newSessionMeta()); err != nil {
		return nil, fmt.Errorf("watching sessions: %w", err)
	}
	d := &Directory{cache: c, domain: opts.ClusterDomain, clock: opts.Clock,
		ignored: prometheus.NewDesc("sprechzimmer_frontdoor_ignored_services",
			"Services labelled as rooms that are not routed to, by reason (labels, type, owner, expired, port, no-session).",
			[]string{"reason"}, nil)}
	if d.domain == "" {
		d.domain = DefaultClusterDomain
	}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	return d, nil
}

// Start runs the cache until ctx ends; Synced turns true once it holds
// every Service.
func (d *Directory) Start(ctx context.Context) error {
	go func() {
		if d.cache.WaitForCacheSync(ctx) {
			d.synced.Store(true)
		}
	}()
	if err := d.cache.Start(ctx); err != nil {
		return fmt.Errorf("running the service cache: %w", err)
	}
	return nil
}

// Synced reports whether the cache has listed the Services once.
func (d *Directory) Synced() bool { return d.synced.Load() }

// Lookup returns the base URL of the open room id: the one Service with
// that room label that roomcontract.CheckService finds no problem with and
// whose controlling VideoSession exists in the Service's namespace. Other
// Services with the label, look-alikes, are ignored.
func (d *Directory) Lookup(ctx context.Context, id string) (*url.URL, bool) {
	var list corev1.ServiceList
	if err := d.cache.List(ctx, &list, client.MatchingFields{roomIndex: id}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false
	}
	now := d.clock.Now()
	for i := range list.Items {
		svc := &list.Items[i]
		if port, reason := d.check(ctx, svc, now); reason == "" {
			return upstream(svc, port, d.domain), true
		}
	}
	return nil, false
}

// check returns the port of svc, if it is the Service of an open room whose
// session exists, and otherwise why not (a roomcontract Problem or
// IgnoredNoSession). At most one Service passes for a room id: the session
// with that UID has one namespace and one name, and names the Service.
func (d *Directory) check(ctx context.Context, svc *corev1.Service, now time.Time) (int32, string) {
	port, problem := roomcontract.CheckService(svc, now)
	if problem != "" {
		return 0, problem
	}
	owner := metav1.GetControllerOf(svc) // CheckService found it
	session := newSessionMeta()
	err := d.cache.Get(ctx, client.ObjectKey{Namespace: svc.Namespace, Name: owner.Name}, session)
	if err != nil || session.UID != owner.UID {
		return 0, IgnoredNoSession
	}
	return port, ""
}

// Describe sends the ignored-services gauge's description.
func (d *Directory) Describe(ch chan<- *prometheus.Desc) { ch <- d.ignored }

// Collect counts the cached Services that are not routed to, by reason;
// every reason is sent, 0 included. Expired rooms are counted too, until
// the operator has deleted them.
func (d *Directory) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	var list corev1.ServiceList
	ctx := context.Background()
	if d.Synced() && d.cache.List(ctx, &list, client.UnsafeDisableDeepCopy) == nil {
		now := d.clock.Now()
		for i := range list.Items {
			if _, reason := d.check(ctx, &list.Items[i], now); reason != "" {
				counts[reason]++
			}
		}
	}
	for _, r := range ignoredReasons {
		ch <- prometheus.MustNewConstMetric(d.ignored, prometheus.GaugeValue, float64(counts[r]), r)
	}
}

// newSessionMeta is an empty VideoSession's metadata, for the cache.
func newSessionMeta() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(videov1alpha1.GroupVersion.WithKind(roomcontract.OwnerKind))
	return m
}

// keepIdentity keeps only what check needs of a session's metadata: its
// namespace, name and UID (no labels, annotations, owners or fields).
func keepIdentity(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil // a tombstone
	}
	kept := newSessionMeta()
	kept.Namespace, kept.Name, kept.UID, kept.ResourceVersion = m.Namespace, m.Name, m.UID, m.ResourceVersion
	return kept, nil
}

// upstream returns http://<svc>.<ns>.svc.<domain>:<port>.
func upstream(svc *corev1.Service, port int32, domain string) *url.URL {
	host := ServiceHost(svc.Name, svc.Namespace, domain)
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(int(port)))}
}

// ServiceHost is the DNS name of Service name in namespace:
// <name>.<namespace>.svc.<domain>.
func ServiceHost(name, namespace, domain string) string {
	return name + "." + namespace + ".svc." + domain
}
