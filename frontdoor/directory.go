package frontdoor

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// Directory finds a room's signaling Service in an informer cache of the
// Services the operator made (label managed-by), indexed by room id. A
// lookup is a map access; nothing is asked of the API server per request.
type Directory struct {
	cache  cache.Cache
	domain string
	clock  clock.PassiveClock
	synced atomic.Bool
}

// NewDirectory builds a Directory; run it with Start.
func NewDirectory(cfg *rest.Config, opts DirectoryOptions) (*Directory, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	managed := labels.SelectorFromSet(labels.Set{roomcontract.LabelManagedBy: roomcontract.ManagedByValue})
	co := cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Service{}: {Label: managed, Transform: cache.TransformStripManagedFields()},
		},
		// Only Services are cached; a lookup of anything else is a bug.
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
	d := &Directory{cache: c, domain: opts.ClusterDomain, clock: opts.Clock}
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

// Lookup returns the base URL of the open room id: its Service carries the
// room label, is controlled by the VideoSession whose UID is id, and has
// not expired. Anything else, and more than one candidate, is no room.
func (d *Directory) Lookup(ctx context.Context, id string) (*url.URL, bool) {
	var list corev1.ServiceList
	if err := d.cache.List(ctx, &list, client.MatchingFields{roomIndex: id}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false
	}
	if len(list.Items) != 1 {
		return nil, false
	}
	return upstreamOf(&list.Items[0], id, d.domain, d.clock.Now())
}

// upstreamOf returns http://<svc>.<ns>.svc.<domain>:<port> for svc if it is
// the open room id at now (roomcontract.OpenRoomPort says what that takes).
func upstreamOf(svc *corev1.Service, id, domain string, now time.Time) (*url.URL, bool) {
	port, ok := roomcontract.OpenRoomPort(svc, id, now)
	if !ok {
		return nil, false
	}
	host := ServiceHost(svc.Name, svc.Namespace, domain)
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(int(port)))}, true
}

// ServiceHost is the DNS name of Service name in namespace:
// <name>.<namespace>.svc.<domain>.
func ServiceHost(name, namespace, domain string) string {
	return name + "." + namespace + ".svc." + domain
}
