package frontdoor_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/devenv/resolver"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

// The suite runs the front door against a real kube-apiserver and etcd
// (envtest) with the VideoSession CRD. Each test has its own two
// namespaces, Directory, clock, metrics and
// room servers; the room servers are httptest servers on loopback that the
// local setup's resolver.Static stands in for the cluster's DNS with.
var (
	cfg       *rest.Config
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	testenv.Main(m, env, func(_ context.Context, c *rest.Config) (err error) {
		cfg = c
		scheme := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(scheme); err != nil {
			return err
		}
		if err := videov1alpha1.AddToScheme(scheme); err != nil {
			return err
		}
		k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
		return err
	})
}

// door is one running front door with what a test needs to drive it.
type door struct {
	t        testing.TB
	url      string
	ns       string
	otherNS  string
	dir      *frontdoor.Directory
	clock    *testingclock.FakeClock
	resolver *resolver.Static
	registry *prometheus.Registry
	logs     *testlog.Buffer
}

// startDoor runs a front door watching two namespaces of the test's own
// (rooms go into the first) and returns once its cache has synced; tune
// changes its options.
func startDoor(t testing.TB, tune ...func(*frontdoor.Options)) *door {
	t.Helper()
	namespaces := make([]string, 2)
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fd-"}}
		if err := k8sClient.Create(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
		namespaces[i] = ns.Name
	}
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	dir, err := frontdoor.NewDirectory(cfg, frontdoor.DirectoryOptions{Namespaces: namespaces, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Go(t, "directory", dir.Start)
	testenv.Eventually(t, "cache synced", func() error {
		if !dir.Synced() {
			return fmt.Errorf("not synced")
		}
		return nil
	})
	d := &door{t: t, ns: namespaces[0], otherNS: namespaces[1], dir: dir, clock: clk, resolver: resolver.NewStatic(), registry: prometheus.NewRegistry(), logs: &testlog.Buffer{}}
	d.registry.MustRegister(dir)
	opts := frontdoor.Options{
		Directory: dir,
		Dial:      d.resolver.DialContext,
		Metrics:   frontdoor.NewMetrics(d.registry),
		Logger:    slog.New(slog.NewJSONHandler(d.logs, nil)),
		AccessLog: true,
	}
	for _, f := range tune {
		f(&opts)
	}
	h, err := frontdoor.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

// roomSpec is a room Service to create; the zero value is an open room
// like the operator makes.
type roomSpec struct {
	// expiresIn is the time to expiry from the clock's now; 0 means 1 h.
	expiresIn time.Duration
	// noExpiry leaves the expiry annotation out.
	noExpiry bool
	// ownerUID overrides the controlling owner's UID (a forged Service).
	ownerUID string
}

// createSession creates a VideoSession named name in namespace ns (no
// operator runs: it stays as created).
func createSession(t testing.TB, ns, name string) *videov1alpha1.VideoSession {
	t.Helper()
	s := &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       videov1alpha1.VideoSessionSpec{StartTime: metav1.Time{Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}},
	}
	if err := k8sClient.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// createRoom creates a VideoSession and its room Service as the operator
// makes it (roomcontract.NewService), and returns its room id and Service.
func (d *door) createRoom(name string, spec roomSpec) (string, *corev1.Service) {
	d.t.Helper()
	if spec.expiresIn == 0 {
		spec.expiresIn = time.Hour
	}
	session := createSession(d.t, d.ns, name)
	id := roomcontract.RoomID(session)
	svc := roomcontract.NewService(session, d.clock.Now().Add(spec.expiresIn))
	if spec.ownerUID != "" {
		svc.OwnerReferences[0].UID = types.UID(spec.ownerUID)
	}
	if spec.noExpiry {
		delete(svc.Annotations, roomcontract.AnnotationExpiresAt)
	}
	if err := k8sClient.Create(context.Background(), svc); err != nil {
		d.t.Fatal(err)
	}
	return id, svc
}

// serveRoom points svc's DNS name at b.
func (d *door) serveRoom(svc *corev1.Service, b *backend) {
	d.resolver.Set(frontdoor.ServiceHost(svc.Name, svc.Namespace, frontdoor.DefaultClusterDomain), b.addr)
}

// get fetches path from the front door without following redirects.
func (d *door) get(path string, header http.Header) *response {
	d.t.Helper()
	return fetch(d.t, http.MethodGet, d.url+path, header)
}

// awaitRouted waits until the cache knows room id: its page comes back.
func (d *door) awaitRouted(id string) {
	d.t.Helper()
	testenv.Eventually(d.t, "room routed", func() error {
		if r := fetch(d.t, http.MethodGet, d.url+"/r/"+id+"/", nil); r.status != http.StatusOK {
			return fmt.Errorf("status %d", r.status)
		}
		return nil
	})
}

// openRoom creates an open room named name, served by a backend of its
// own, and returns once the front door routes it.
func (d *door) openRoom(name string) (id string, svc *corev1.Service, b *backend) {
	d.t.Helper()
	b = startBackend(d.t)
	id, svc = d.createRoom(name, roomSpec{})
	d.serveRoom(svc, b)
	d.awaitRouted(id)
	return id, svc, b
}

// response is a fully read response.
type response struct {
	status int
	header http.Header
	body   string
}

func fetch(t testing.TB, method, url string, header http.Header) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body.String()}
}

// backend is a stand-in room server: it answers every path with the
// request URI it received and echoes WebSocket messages at /ws, and it
// keeps every request it saw.
type backend struct {
	addr string
	mu   sync.Mutex
	seen []*http.Request
}

func startBackend(t testing.TB) *backend {
	t.Helper()
	b := &backend{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"video.example.test"}})
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /ws-hostile", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		setHostileHeaders(w.Header())
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"video.example.test"}})
		if err != nil {
			return
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
	mux.HandleFunc("GET /hostile", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		setHostileHeaders(w.Header())
		_, _ = w.Write([]byte(r.RequestURI))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.record(r)
		_, _ = w.Write([]byte(r.RequestURI))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b.addr = srv.Listener.Addr().String()
	return b
}

func (b *backend) record(r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen = append(b.seen, r.Clone(context.Background()))
}

// requests returns the requests seen so far.
func (b *backend) requests() []*http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*http.Request(nil), b.seen...)
}

// metric returns the value of the series name with the given labels in
// reg, 0 if there is none.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// uuidLike returns a fresh id of a room that does not exist.
func uuidLike() string { return string(uuid.NewUUID()) }

// errorf is fmt.Errorf, for conditions of eventually.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// withoutDate drops the Date header, the one header that may differ
// between two responses a second apart.
func withoutDate(h http.Header) http.Header {
	c := h.Clone()
	c.Del("Date")
	return c
}
