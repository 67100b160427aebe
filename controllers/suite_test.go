package controllers_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/webhook"
)

// The suite runs against a real kube-apiserver and etcd (envtest) with the
// CRD and the admission webhook installed. Each test starts its own operator
// on its own namespace with its own fake clock.
var (
	cfg       *rest.Config
	k8sClient client.Client
)

var turnSecret = []byte("turn-shared-secret-for-tests")

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook")}},
	}
	testenv.Main(m, env, func(ctx context.Context, c *rest.Config) error {
		cfg = c
		cfg.QPS, cfg.Burst = -1, -1
		var err error
		if k8sClient, err = client.New(cfg, client.Options{Scheme: operator.NewScheme()}); err != nil {
			return err
		}
		// The room policy, as config/default installs it on a cluster.
		if err := manifests.Create(ctx, k8sClient, filepath.Join("..", manifests.RoomPolicy)); err != nil {
			return err
		}
		// The webhook runs on the real clock in a manager of its own, so that
		// every test's API calls go through it.
		wo := env.WebhookInstallOptions
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:                 operator.NewScheme(),
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir}),
		})
		if err != nil {
			return err
		}
		if err := (&webhook.VideoSessionWebhook{}).SetupWithManager(mgr); err != nil {
			return err
		}
		go func() { _ = mgr.Start(ctx) }()
		return waitForWebhook(wo.LocalServingHost, wo.LocalServingPort)
	})
}

func waitForWebhook(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("webhook server at %s did not come up", addr)
}

// testOperator is one running operator with its clock, metrics and
// "session usage" lines (JSON, one per line).
type testOperator struct {
	clock    *testingclock.FakeClock
	registry *prometheus.Registry
	usage    *testlog.Buffer
	stop     func()
}

// startOperator runs the operator on namespace ns until the test ends or
// stop is called. Starting it again with the same clock is a restart. tune
// changes its options and its copy of the API server's config.
func startOperator(t *testing.T, ns string, clk *testingclock.FakeClock, tune ...func(*operator.Options, *rest.Config)) *testOperator {
	t.Helper()
	base, _ := url.Parse("https://video.example.test")
	reg := prometheus.NewRegistry()
	usage := &testlog.Buffer{}
	opts := operator.Options{
		UsageLog: logr.FromSlogHandler(slog.NewJSONHandler(usage, nil)).WithName("usage"),
		Manager: ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			// Several operators start in this one process, one per test.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		},
		Namespaces: []string{ns},
		Clock:      clk,
		Metrics:    reg,
		Room: controllers.RoomOptions{
			PublicBaseURL:      base,
			SignalingImage:     "ghcr.io/sprechzimmer/signaling:test",
			SignalingCommand:   []string{"/signaling"},
			SignalingResources: controllers.DefaultSignalingResources(),
			TURNSecret:         func() []byte { return turnSecret },
			TURNURLs:           []string{"turn:turn.example.test:3478?transport=udp"},
			STUNURLs:           []string{"stun:turn.example.test:3478"},
			TermsVersion:       "2026-11",
		},
	}
	c := rest.CopyConfig(cfg)
	for _, f := range tune {
		f(&opts, c)
	}
	mgr, err := operator.New(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Go(t, "operator", mgr.Start)
	return &testOperator{clock: clk, registry: reg, usage: usage, stop: stop}
}

// newNamespace makes a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "vs-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}
