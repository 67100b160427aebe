// Command manager runs the Sprechzimmer operator: the VideoSession
// controller and its admission webhook.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/cliflag"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/turnurl"
	"github.com/sprechzimmer/sprechzimmer/internal/version"
	signalingconfig "github.com/sprechzimmer/sprechzimmer/signaling/config"
)

func main() {
	if err := run(); err != nil {
		ctrl.Log.Error(err, "operator stopped")
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr, webhookCertDir     string
		metricsCertDir                             string
		leaderElect, secureMetrics, enableWebhooks bool
		webhookPort, concurrency                   int
		publicBaseURL, turnSecretFile, image       string
		cpuRequest, cpuLimit, memRequest, memLimit string
		termsVersion, logLevel                     string
		turnURLs, stunURLs, namespaces             cliflag.List
		kubeQPS                                    float64
		kubeBurst                                  int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint (HTTPS unless --metrics-secure=false); 0 turns it off.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the metrics server, reloaded when they change (default: a self-signed certificate that scrapers cannot verify).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles.")
	flag.BoolVar(&enableWebhooks, "enable-webhooks", true, "Serve the admission webhooks.")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "Port of the webhook server.")
	flag.StringVar(&webhookCertDir, "webhook-cert-dir", "", "Directory with tls.crt and tls.key for the webhook server (default: controller-runtime's).")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 8, "Sessions reconciled in parallel.")
	flag.Float64Var(&kubeQPS, "kube-api-qps", 100, "Queries per second to the API server.")
	flag.IntVar(&kubeBurst, "kube-api-burst", 200, "Burst of queries to the API server.")
	flag.StringVar(&publicBaseURL, "public-base-url", "", "Where browsers reach the front door, e.g. https://video.example.org (required).")
	flag.StringVar(&image, "signaling-image", version.Image("signaling"), "Container image of the rooms' signaling server.")
	defaults := controllers.DefaultSignalingResources()
	flag.StringVar(&cpuRequest, "signaling-cpu-request", defaults.Requests.Cpu().String(), "CPU request of a signaling container.")
	flag.StringVar(&cpuLimit, "signaling-cpu-limit", defaults.Limits.Cpu().String(), "CPU limit of a signaling container (bounds a room under a flood of connections).")
	flag.StringVar(&memRequest, "signaling-memory-request", defaults.Requests.Memory().String(), "Memory request of a signaling container.")
	flag.StringVar(&memLimit, "signaling-memory-limit", defaults.Limits.Memory().String(), "Memory limit of a signaling container.")
	flag.StringVar(&turnSecretFile, "turn-secret-file", "", "File with the secret shared with the TURN server (a mounted Secret).")
	flag.Var(&turnURLs, "turn-url", "TURN server URI handed to browsers with credentials, e.g. turn:turn.example.org:3478?transport=udp (repeatable).")
	flag.Var(&stunURLs, "stun-url", "STUN server URI handed to browsers (repeatable).")
	flag.StringVar(&termsVersion, "terms-version", signalingconfig.DefaultTermsVersion, "Version of the terms text clients consent to.")
	flag.Var(&namespaces, "namespace", "Watch only these namespaces (repeatable; default all).")
	version.AddFlag(flag.CommandLine, "manager")
	flag.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error; debug shows the controller's verbose lines.")
	flag.Parse()
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// One log stack across the commands: slog, as JSON; controller-runtime
	// and client-go log through it.
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	room, err := roomOptions(publicBaseURL, image, turnSecretFile, cpuRequest, cpuLimit, memRequest, memLimit, termsVersion, turnURLs, stunURLs)
	if err != nil {
		return err
	}
	// HTTP/2 stays off on the metrics and webhook servers (CVE-2023-44487, CVE-2023-39325).
	noHTTP2 := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, CertDir: metricsCertDir, TLSOpts: []func(*tls.Config){noHTTP2}}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(kubeQPS), kubeBurst
	// SetupSignalHandler cancels on SIGTERM: the manager drains its
	// workers, releases the leader lease and stops.
	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.New(ctx, cfg, operator.Options{
		Manager: ctrl.Options{
			Metrics:                       metricsOpts,
			HealthProbeBindAddress:        probeAddr,
			LeaderElection:                leaderElect,
			LeaderElectionID:              "operator.video.sprechzimmer.dev",
			LeaderElectionReleaseOnCancel: true,
			WebhookServer:                 webhook.NewServer(webhook.Options{Port: webhookPort, CertDir: webhookCertDir, TLSOpts: []func(*tls.Config){noHTTP2}}),
		},
		Room:                    *room,
		EnableWebhooks:          enableWebhooks,
		MaxConcurrentReconciles: concurrency,
		Namespaces:              namespaces,
	})
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	ready := healthz.Ping
	if enableWebhooks {
		ready = mgr.GetWebhookServer().StartedChecker()
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return err
	}
	ctrl.Log.Info("starting the operator")
	return mgr.Start(ctx)
}

func roomOptions(publicBaseURL, image, turnSecretFile, cpuRequest, cpuLimit, memRequest, memLimit, termsVersion string, turnURLs, stunURLs []string) (*controllers.RoomOptions, error) {
	base, err := url.Parse(publicBaseURL)
	if publicBaseURL == "" || err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, errors.New("--public-base-url must be an absolute http(s) URL")
	}
	var secret []byte
	if len(turnURLs) > 0 {
		if turnSecretFile == "" {
			return nil, errors.New("--turn-url needs --turn-secret-file")
		}
		if secret, err = os.ReadFile(turnSecretFile); err != nil {
			return nil, fmt.Errorf("reading --turn-secret-file: %w", err)
		}
		// The bytes are used exactly as stored, as the TURN server does;
		// both refuse surrounding whitespace rather than disagree about it.
		if strings.TrimSpace(string(secret)) != string(secret) {
			return nil, errors.New("--turn-secret-file starts or ends with whitespace (a trailing newline?); write it with kubectl create secret --from-literal")
		}
		if len(secret) < 16 {
			return nil, errors.New("the TURN secret must be at least 16 characters")
		}
	}
	// Browsers get the TURN URLs in the order they should try them: UDP,
	// TCP, then TLS (turns: on 443).
	if turnURLs, err = turnurl.Order(turnURLs); err != nil {
		return nil, fmt.Errorf("--turn-url: %w", err)
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		list  corev1.ResourceList
		name  corev1.ResourceName
		value string
		flag  string
	}{
		{res.Requests, corev1.ResourceCPU, cpuRequest, "--signaling-cpu-request"},
		{res.Limits, corev1.ResourceCPU, cpuLimit, "--signaling-cpu-limit"},
		{res.Requests, corev1.ResourceMemory, memRequest, "--signaling-memory-request"},
		{res.Limits, corev1.ResourceMemory, memLimit, "--signaling-memory-limit"},
	} {
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.flag, err)
		}
		q.list[q.name] = v
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if limit, request := res.Limits[name], res.Requests[name]; limit.Cmp(request) < 0 {
			return nil, fmt.Errorf("the signaling %s limit is below its request", name)
		}
	}
	return &controllers.RoomOptions{
		PublicBaseURL:      base,
		SignalingImage:     image,
		SignalingCommand:   []string{"/signaling"},
		SignalingResources: res,
		TURNSecret:         secret,
		TURNURLs:           turnURLs,
		STUNURLs:           stunURLs,
		TermsVersion:       termsVersion,
	}, nil
}
