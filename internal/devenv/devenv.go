// Package devenv is the whole product on one machine, with no cluster: a
// local kube-apiserver and etcd (the envtest binaries), kube-controller-manager
// with the garbage collector, the CRD, the operator with its webhook, room Pods run as local processes, the front
// door and a TURN server on loopback (or, for a phone, on a LAN address over
// HTTPS: LANOptions), and a demo session whose two links it prints.
// Everything it starts stops, and everything it writes is removed, when its
// context ends.
package devenv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/devenv/controllermanager"
	"github.com/sprechzimmer/sprechzimmer/internal/devenv/resolver"
	"github.com/sprechzimmer/sprechzimmer/internal/localpods"
	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	signalingconfig "github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// DemoNamespace and DemoSession name the session the setup creates.
const (
	DemoNamespace = "sprechzimmer-demo"
	DemoSession   = "demo"
)

// Options configure the local setup.
type Options struct {
	// Listen is the front door's address; browsers open the links there.
	Listen string
	// Out receives what a person reads: progress, the links, how to use kubectl.
	Out io.Writer
	// Logs receives the components' logs.
	Logs io.Writer
	// Clock is the operator's time source and the demo session's start;
	// nil means the real clock. A test moves it to expire the session.
	Clock clock.WithTicker
	// Metrics serves the operator's, the front door's and the TURN
	// server's metrics, each on a loopback port of its own, for a
	// Prometheus to scrape (Setup.MetricsTargets).
	Metrics bool
	// LAN, when set, serves the front door over HTTPS on a LAN address
	// instead of Listen, and the TURN server on that address, for a phone
	// in the same network (Setup.LAN).
	LAN *LANOptions
}

// Links are the demo session's two personal links.
type Links struct {
	Therapist, Client string
}

// Setup is the running local setup.
type Setup struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file for kubectl, in a temporary
	// directory that Stop removes.
	Kubeconfig string
	// Links are the demo session's.
	Links Links
	// EtcdURL is etcd's client URL; EtcdDataDir is its data directory.
	EtcdURL     *url.URL
	EtcdDataDir string
	// LAN is the front door on the LAN; nil unless Options.LAN was set.
	LAN *LAN

	metrics *metricsTargets
	errs    chan error
	stops   []func()
}

// Run starts everything, prints the links, and serves until ctx ends.
func Run(ctx context.Context, opts Options) error {
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Stop()
	say := func(format string, args ...any) { _, _ = fmt.Fprintf(opts.Out, format+"\n", args...) }
	say("")
	say("Sprechzimmer is running. Open the two links in two browser tabs (or two browsers):")
	say("")
	say("  therapist: %s", s.Links.Therapist)
	say("  client:    %s", s.Links.Client)
	say("")
	if s.LAN != nil {
		printPhoneHelp(opts.Out, s.LAN, s.Links.Client)
	}
	say("kubectl works against the local API server:")
	say("  export KUBECONFIG=%s", s.Kubeconfig)
	say("  kubectl get videosessions -A")
	say("")
	if opts.Metrics {
		say("metrics (/metrics), by job:")
		targets := s.MetricsTargets()
		for _, job := range slices.Sorted(maps.Keys(targets)) {
			say("  %-22s %s", job, strings.Join(targets[job], " "))
		}
		say("")
	}
	say("Press Ctrl-C to stop; everything started is stopped and its files removed.")

	select {
	case <-ctx.Done():
		return nil
	case err := <-s.Err():
		if ctx.Err() != nil {
			return nil // stopping: a component saw the signal first
		}
		return err
	}
}

// Err receives the error of a component that failed while running.
func (s *Setup) Err() <-chan error { return s.errs }

// Stop stops everything Start started, in reverse order, and removes its
// files.
func (s *Setup) Stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// onStop adds f to what Stop does first.
func (s *Setup) onStop(f func()) { s.stops = append(s.stops, f) }

// Start starts everything and creates the demo session; it returns once
// the session's room runs. Its components run until Stop is called; on an
// error it stops what it had started.
func Start(ctx context.Context, opts Options) (_ *Setup, err error) {
	// One slot per component that reports its end (kube-controller-manager,
	// the manager, the directory, the front door): no sender blocks.
	s := &Setup{errs: make(chan error, 4), metrics: &metricsTargets{components: map[string]string{}, rooms: map[string]string{}}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	now := opts.Clock
	if now == nil {
		now = clock.RealClock{}
	}
	say := func(format string, args ...any) { _, _ = fmt.Fprintf(opts.Out, format+"\n", args...) }
	work, err := os.MkdirTemp("", "sprechzimmer-dev-")
	if err != nil {
		return nil, err
	}
	s.onStop(func() { _ = os.RemoveAll(work) })

	say("· building the local control plane (kube-apiserver, etcd, kube-controller-manager) if needed; the first run takes several minutes")
	if _, err := testenv.Build(ctx); err != nil {
		return nil, err
	}
	kcmBinary, err := testenv.BuildControllerManager(ctx)
	if err != nil {
		return nil, err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	say("· building the signaling server")
	signalingBin := filepath.Join(work, "signaling")
	build := exec.CommandContext(ctx, "go", "build", "-o", signalingBin, "./cmd/signaling")
	build.Dir, build.Stderr = root, opts.Logs
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the signaling server: %w", err)
	}

	say("· starting kube-apiserver and etcd")
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
		ControlPlaneStartTimeout: time.Minute,
	}
	// A machine without a default route (or a loopback-only network
	// namespace) gives the API server no address of its own to advertise;
	// loopback is fine when nothing needs the "kubernetes" Service's endpoints.
	apiServer := env.ControlPlane.GetAPIServer()
	apiServer.Configure().Set("advertise-address", "127.0.0.1").Set("endpoint-reconciler-type", "none")
	apiServer.Out, apiServer.Err = opts.Logs, opts.Logs
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	s.onStop(func() { _ = env.Stop() })
	s.Config, s.EtcdURL, s.EtcdDataDir = cfg, env.ControlPlane.Etcd.URL, env.ControlPlane.Etcd.DataDir
	if s.Kubeconfig, err = writeKubeconfig(env, work); err != nil {
		return nil, err
	}
	if err := installRoomPolicy(ctx, cfg, root); err != nil {
		return nil, err
	}

	say("· starting kube-controller-manager (garbage collector, namespace and ServiceAccount controllers)")
	kcm, err := controllermanager.Start(context.WithoutCancel(ctx), env, controllermanager.Options{Binary: kcmBinary, Dir: work, Output: opts.Logs})
	if err != nil {
		return nil, err
	}
	s.onStop(kcm.Stop)
	go func() {
		<-kcm.Done()
		s.errs <- kcm.Err()
	}()

	var listener net.Listener
	var base *url.URL
	turnIP := net.IPv4(127, 0, 0, 1)
	if opts.LAN != nil {
		if listener, s.LAN, err = listenLAN(ctx, *opts.LAN, now.Now()); err != nil {
			return nil, err
		}
		base, turnIP = s.LAN.Origin, s.LAN.IP
	} else {
		if listener, err = (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Listen); err != nil {
			return nil, fmt.Errorf("front door: %w", err)
		}
		base = &url.URL{Scheme: "http", Host: listener.Addr().String()}
	}
	s.onStop(func() { _ = listener.Close() })

	say("· starting the TURN server")
	turnSecret := make([]byte, 32)
	_, _ = rand.Read(turnSecret)
	turnReg, operatorReg, doorReg := prometheus.NewRegistry(), prometheus.NewRegistry(), prometheus.NewRegistry()
	turnCfg := turnConfig(turnSecret, turnIP)
	turnCfg.Registerer = turnReg
	turnSrv, err := turn.New(turnCfg)
	if err != nil {
		return nil, fmt.Errorf("starting the TURN server: %w", err)
	}
	s.onStop(func() { _ = turnSrv.Close() })

	// The components run until Stop, not until the ctx of Start ends.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.onStop(cancel)

	say("· starting the operator, its webhook and the local pod runner")
	wo := env.WebhookInstallOptions
	mgr, err := operator.New(ctx, cfg, operator.Options{
		Manager: ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir}),
			// Nothing scrapes the local setup's metrics: a registry and
			// controller names of its own, so that a second Start in one
			// process (a test run with -count=2) starts anew.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		},
		EnableWebhooks: true,
		Clock:          opts.Clock,
		Metrics:        operatorReg,
		Room: controllers.RoomOptions{
			PublicBaseURL:      base,
			SignalingImage:     "local/signaling",
			SignalingCommand:   []string{"/signaling"},
			SignalingResources: controllers.DefaultSignalingResources(),
			TURNSecret:         func() []byte { return turnSecret },
			TURNURLs:           []string{"turn:" + turnSrv.UDPAddr().String() + "?transport=udp"},
			TermsVersion:       signalingconfig.DefaultTermsVersion,
			ExtraEnv:           allowedOriginsEnv(loopbackOrigins(base)),
		},
	})
	if err != nil {
		return nil, err
	}
	hosts := resolver.NewStatic()
	runner := &localpods.Runner{
		Client:      mgr.GetClient(),
		Binaries:    map[string]string{"/signaling": signalingBin},
		APIServer:   cfg.Host,
		CAData:      cfg.CAData,
		WorkDir:     filepath.Join(work, "pods"),
		Output:      opts.Logs,
		ServiceHost: func(name, ns string) string { return frontdoor.ServiceHost(name, ns, frontdoor.DefaultClusterDomain) },
		Resolve: func(host, addr string) {
			s.metrics.room(host, addr)
			if addr == "" {
				hosts.Delete(host)
				return
			}
			hosts.Set(host, addr)
		},
	}
	if err := runner.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	s.onStop(runner.Stop)
	go func() { s.errs <- mgr.Start(runCtx) }()

	say("· starting the front door on %s", base)
	directory, err := frontdoor.NewDirectory(cfg, frontdoor.DirectoryOptions{})
	if err != nil {
		return nil, err
	}
	go func() { s.errs <- directory.Start(runCtx) }()
	// Every browser of the local setup comes from loopback: per-source
	// limits would count them all as one visitor. The per-room limit stays.
	localLimits := frontdoor.Limits{RequestsPerSource: -1, WebSocketsPerSource: -1}
	door, err := frontdoor.New(frontdoor.Options{Directory: directory, Dial: hosts.DialContext, Limits: localLimits, Metrics: frontdoor.NewMetrics(doorReg)})
	if err != nil {
		return nil, err
	}
	var handler http.Handler = door
	if s.LAN != nil {
		handler = s.LAN.handler(door)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if s.LAN != nil {
		server.ErrorLog = log.New(&serverLog{out: opts.Out, logs: opts.Logs}, "", log.LstdFlags)
	}
	go func() {
		if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			s.errs <- err
		}
	}()
	s.onStop(func() {
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = server.Shutdown(shutdown)
	})

	if opts.Metrics {
		// The operator's registry holds the session metrics; controller-runtime's
		// holds the controller's, the webhook's and the work queue's.
		for job, g := range map[string]prometheus.Gatherer{
			JobOperator:  prometheus.Gatherers{ctrlmetrics.Registry, operatorReg},
			JobFrontDoor: doorReg,
			JobTURN:      turnReg,
		} {
			if err := s.serveMetrics(ctx, job, g); err != nil {
				return nil, err
			}
		}
	}

	direct, err := client.New(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return nil, err
	}
	say("· creating the demo session")
	if s.Links, err = createDemo(ctx, direct, now.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// turnConfig is the local TURN server's configuration, on ip: loopback,
// or the LAN address a phone reaches. Both relays of a relay-only call are
// on ip, so it is allowed as a peer. The server limits its own host,
// loopback included, to its live relay ports, so a credential holder
// cannot send UDP to any other port of the machine.
func turnConfig(secret []byte, ip net.IP) turn.Config {
	addr, _ := netip.AddrFromSlice(ip)
	addr = addr.Unmap()
	return turn.Config{
		Realm:       "sprechzimmer.local",
		Secret:      secret,
		UDPAddress:  net.JoinHostPort(addr.String(), "0"),
		RelayIP:     ip,
		RelayBindIP: addr.String(),
		Peers:       turn.NewPeerPolicy([]netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}, nil),
	}
}

// allowedOriginsEnv tells the rooms the origins they accept besides the
// links' own.
func allowedOriginsEnv(origins []string) []corev1.EnvVar {
	if len(origins) == 0 {
		return nil
	}
	return []corev1.EnvVar{{Name: signalingconfig.EnvAllowedOrigins, Value: strings.Join(origins, ",")}}
}

// createDemo creates a session that starts now and waits until its room
// runs, then reads the two links from its Secret.
func createDemo(ctx context.Context, c client.Client, start time.Time) (Links, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DemoNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		return Links{}, fmt.Errorf("creating the demo namespace: %w", err)
	}
	session := &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: DemoNamespace, Name: DemoSession},
		Spec: videov1alpha1.VideoSessionSpec{
			StartTime: metav1.Time{Time: start},
			ValidFor:  &metav1.Duration{Duration: 2 * time.Hour},
		},
	}
	if err := c.Create(ctx, session); err != nil {
		return Links{}, fmt.Errorf("creating the demo session: %w", err)
	}
	key := client.ObjectKeyFromObject(session)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.Get(ctx, key, session); err != nil {
			return Links{}, err
		}
		if cond := meta.FindStatusCondition(session.Status.Conditions, videov1alpha1.ConditionRoomReady); cond != nil && cond.Status == metav1.ConditionTrue {
			break
		}
		select {
		case <-ctx.Done():
			return Links{}, ctx.Err()
		case <-tick.C:
		}
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: DemoNamespace, Name: session.Status.LinksSecretName}, secret); err != nil {
		return Links{}, err
	}
	return Links{
		Therapist: string(secret.Data[roomcontract.SecretKeyTherapistLink]),
		Client:    string(secret.Data[roomcontract.SecretKeyClientLink]),
	}, nil
}

// installRoomPolicy installs config/policy, as kubectl apply -k config/default
// does on a cluster: the operator runs no room without it.
func installRoomPolicy(ctx context.Context, cfg *rest.Config, root string) error {
	c, err := client.New(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return err
	}
	if err := manifests.Create(ctx, c, filepath.Join(root, manifests.RoomPolicy)); err != nil {
		return fmt.Errorf("installing the room policy: %w", err)
	}
	return nil
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "developer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}
