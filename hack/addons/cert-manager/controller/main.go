// Command controller is cert-manager's controller, wired from the library
// packages of the github.com/cert-manager/cert-manager module (the upstream
// command lives in a module the Go proxy does not serve). It runs the
// controllers upstream enables by default; Gateway API support and the
// CertificateSigningRequest signers are left out, and so is the Venafi
// issuer (its vcert module is not on the Go proxy).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// Controllers register themselves with controller.Known().
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/vault"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer types register themselves for the issuers controllers.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"

	"github.com/cert-manager/cert-manager/sprechzimmer-addons/cli"
)

func main() {
	cfg := defaultConfig()
	cli.Main("controller", &cfg.Logging, &cfg.FeatureGates,
		func(fs *pflag.FlagSet) { addFlags(fs, cfg) },
		func(ctx context.Context) error {
			return run(ctx, cfg)
		})
}

// defaultConfig is upstream's default configuration (the values of
// internal/apis/config/controller/v1alpha1/defaults.go, which cannot be
// imported here: it links the Venafi issuer, whose vcert module the Go proxy
// does not serve).
func defaultConfig() *config.ControllerConfiguration {
	c := &config.ControllerConfiguration{
		KubernetesAPIQPS:                         20,
		KubernetesAPIBurst:                       50,
		ClusterResourceNamespace:                 "kube-system",
		Controllers:                              []string{"*"},
		ClusterIssuerAmbientCredentials:          true,
		CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		NumberOfConcurrentWorkers:                5,
		MaxConcurrentChallenges:                  60,
		MetricsListenAddress:                     "0.0.0.0:9402",
		HealthzListenAddress:                     "0.0.0.0:9403",
		PprofAddress:                             "localhost:6060",
		CertificateRequestMinimumBackoffDuration: time.Hour,
		CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		FeatureGates:                             map[string]bool{},
		IngressShimConfig: config.IngressShimConfig{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                "cert-manager.io",
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		ACMEHTTP01Config: config.ACMEHTTP01Config{
			SolverImage:                 "quay.io/jetstack/cert-manager-acmesolver:" + util.AppVersion,
			SolverResourceRequestCPU:    "10m",
			SolverResourceRequestMemory: "64Mi",
			SolverResourceLimitsCPU:     "100m",
			SolverResourceLimitsMemory:  "64Mi",
			SolverRunAsNonRoot:          true,
		},
		ACMEDNS01Config: config.ACMEDNS01Config{CheckRetryPeriod: 10 * time.Second},
	}
	c.LeaderElectionConfig.Enabled = true
	c.LeaderElectionConfig.Namespace = "kube-system"
	c.LeaderElectionConfig.LeaseDuration = 60 * time.Second
	c.LeaderElectionConfig.RenewDeadline = 40 * time.Second
	c.LeaderElectionConfig.RetryPeriod = 15 * time.Second
	c.LeaderElectionConfig.HealthzTimeout = 20 * time.Second
	logsapi.SetRecommendedLoggingConfiguration(&c.Logging)
	return c
}

// addFlags registers the flags cert-manager's Helm chart passes, with the
// upstream names.
func addFlags(fs *pflag.FlagSet, c *config.ControllerConfiguration) {
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "path to a kubeconfig; in-cluster configuration when empty")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "only watch this namespace; all when empty")
	fs.StringVar(&c.ClusterResourceNamespace, "cluster-resource-namespace", c.ClusterResourceNamespace, "namespace of ClusterIssuer secrets")
	fs.BoolVar(&c.LeaderElectionConfig.Enabled, "leader-elect", c.LeaderElectionConfig.Enabled, "run leader election")
	fs.StringVar(&c.LeaderElectionConfig.Namespace, "leader-election-namespace", c.LeaderElectionConfig.Namespace, "namespace of the leader election Lease")
	fs.DurationVar(&c.LeaderElectionConfig.LeaseDuration, "leader-election-lease-duration", c.LeaderElectionConfig.LeaseDuration, "leader election lease duration")
	fs.DurationVar(&c.LeaderElectionConfig.RenewDeadline, "leader-election-renew-deadline", c.LeaderElectionConfig.RenewDeadline, "leader election renew deadline")
	fs.DurationVar(&c.LeaderElectionConfig.RetryPeriod, "leader-election-retry-period", c.LeaderElectionConfig.RetryPeriod, "leader election retry period")
	fs.StringSliceVar(&c.Controllers, "controllers", c.Controllers, "controllers to run: * for the defaults, -name to leave one out")
	fs.StringVar(&c.ACMEHTTP01Config.SolverImage, "acme-http01-solver-image", c.ACMEHTTP01Config.SolverImage, "image of the ACME HTTP-01 solver Pods")
	fs.StringToStringVar(&c.ACMEHTTP01Config.SolverExtraLabels, "acme-http01-solver-extra-labels", c.ACMEHTTP01Config.SolverExtraLabels, "extra labels on ACME HTTP-01 solver Pods")
	fs.StringVar(&c.ACMEHTTP01Config.SolverRuntimeClassName, "acme-http01-solver-runtime-class-name", c.ACMEHTTP01Config.SolverRuntimeClassName, "runtime class of ACME HTTP-01 solver Pods")
	fs.StringVar(&c.IngressShimConfig.DefaultIssuerName, "default-issuer-name", c.IngressShimConfig.DefaultIssuerName, "ingress-shim default issuer name")
	fs.StringVar(&c.IngressShimConfig.DefaultIssuerKind, "default-issuer-kind", c.IngressShimConfig.DefaultIssuerKind, "ingress-shim default issuer kind")
	fs.StringVar(&c.IngressShimConfig.DefaultIssuerGroup, "default-issuer-group", c.IngressShimConfig.DefaultIssuerGroup, "ingress-shim default issuer group")
	fs.IntVar(&c.MaxConcurrentChallenges, "max-concurrent-challenges", c.MaxConcurrentChallenges, "ACME challenges processed at once")
	fs.BoolVar(&c.EnableCertificateOwnerRef, "enable-certificate-owner-ref", c.EnableCertificateOwnerRef, "make Certificates own their Secrets")
	fs.BoolVar(&c.ACMEDNS01Config.RecursiveNameserversOnly, "dns01-recursive-nameservers-only", c.ACMEDNS01Config.RecursiveNameserversOnly, "check DNS-01 only through the recursive nameservers")
	fs.StringSliceVar(&c.ACMEDNS01Config.RecursiveNameservers, "dns01-recursive-nameservers", c.ACMEDNS01Config.RecursiveNameservers, "host:port of recursive nameservers for DNS-01")
	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "metrics address")
	fs.StringVar(&c.HealthzListenAddress, "healthz-listen-address", c.HealthzListenAddress, "healthz address")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates", "key=value pairs of feature gates")
	logf.AddFlags(&c.Logging, fs)
}

// enabledControllers resolves --controllers: "*" stands for every registered
// controller but the Gateway API and CertificateSigningRequest ones, "-name"
// removes one, a bare name adds one.
func enabledControllers(flag []string) map[string]bool {
	enabled := map[string]bool{}
	for _, item := range flag {
		switch {
		case item == "*":
			for name := range controller.Known() {
				if !strings.HasPrefix(name, "certificatesigningrequests-") && name != "gateway-shim" && name != "listenerset" {
					enabled[name] = true
				}
			}
		case strings.HasPrefix(item, "-"):
			delete(enabled, strings.TrimPrefix(item, "-"))
		default:
			enabled[item] = true
		}
	}
	return enabled
}

// run serves metrics and healthz, takes the leader lease and runs the
// enabled controllers until ctx ends or one of them fails.
func run(ctx context.Context, c *config.ControllerConfiguration) error {
	log := logf.FromContext(ctx)
	factory, err := contextFactory(ctx, c)
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	enabled := enabledControllers(c.Controllers)
	names := make([]string, 0, len(enabled))
	for n := range enabled {
		names = append(names, n)
	}
	sort.Strings(names)
	log.Info("enabled controllers", "controllers", names)

	g, ctx := errgroup.WithContext(ctx)
	var lc net.ListenConfig
	metricsLn, err := lc.Listen(ctx, "tcp", c.MetricsListenAddress)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	metricsServer := base.Metrics.NewServer(metricsLn)
	g.Go(func() error {
		if err := metricsServer.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return metricsServer.Shutdown(shutdown)
	})
	healthzLn, err := lc.Listen(ctx, "tcp", c.HealthzListenAddress)
	if err != nil {
		return fmt.Errorf("healthz listener: %w", err)
	}
	healthzServer := healthz.NewServer(c.LeaderElectionConfig.HealthzTimeout)
	g.Go(func() error { return healthzServer.Start(ctx, healthzLn) })

	elected := make(chan struct{})
	if c.LeaderElectionConfig.Enabled {
		g.Go(func() error { return leaderElection(ctx, c, factory, elected, healthzServer.LeaderHealthzAdaptor) })
	} else {
		close(elected)
	}
	select {
	case <-ctx.Done():
		return g.Wait()
	case <-elected:
	}

	for name, construct := range controller.Known() {
		if !enabled[name] {
			continue
		}
		ctl, err := construct(factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		g.Go(func() error { return ctl.Run(c.NumberOfConcurrentWorkers, ctx) })
	}
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	return err
}

// contextFactory turns the configuration into the options the controllers
// are built from.
func contextFactory(ctx context.Context, c *config.ControllerConfiguration) (*controller.ContextFactory, error) {
	quantity := func(name, s string) (q resource.Quantity, err error) {
		if q, err = resource.ParseQuantity(s); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return q, err
	}
	h := c.ACMEHTTP01Config
	reqCPU, err1 := quantity("acme-http01-solver-resource-request-cpu", h.SolverResourceRequestCPU)
	reqMem, err2 := quantity("acme-http01-solver-resource-request-memory", h.SolverResourceRequestMemory)
	limCPU, err3 := quantity("acme-http01-solver-resource-limits-cpu", h.SolverResourceLimitsCPU)
	limMem, err4 := quantity("acme-http01-solver-resource-limits-memory", h.SolverResourceLimitsMemory)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	nameservers := c.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	return controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         c.KubeConfig,
		APIServerHost:      c.APIServerHost,
		KubernetesAPIQPS:   c.KubernetesAPIQPS,
		KubernetesAPIBurst: c.KubernetesAPIBurst,
		Namespace:          c.Namespace,
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverImage:                 h.SolverImage,
			HTTP01SolverResourceRequestCPU:    reqCPU,
			HTTP01SolverResourceRequestMemory: reqMem,
			HTTP01SolverResourceLimitsCPU:     limCPU,
			HTTP01SolverResourceLimitsMemory:  limMem,
			ACMEHTTP01SolverRunAsNonRoot:      h.SolverRunAsNonRoot,
			HTTP01SolverRuntimeClassName:      h.SolverRuntimeClassName,
			HTTP01SolverNameservers:           h.SolverNameservers,
			HTTP01SolverExtraLabels:           h.SolverExtraLabels,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             c.ACMEDNS01Config.CheckRetryPeriod,
			DNS01CheckAuthoritative:           !c.ACMEDNS01Config.RecursiveNameserversOnly,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: c.MaxConcurrentChallenges},
		IssuerOptions: controller.IssuerOptions{
			ClusterIssuerAmbientCredentials: c.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        c.IssuerAmbientCredentials,
			ClusterResourceNamespace:        c.ClusterResourceNamespace,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 c.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 c.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                c.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: c.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       c.IngressShimConfig.ExtraCertificateAnnotations,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           c.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 c.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: c.CertificateRequestMinimumBackoffDuration,
			CertificateRequestMaximumBackoffDuration: c.CertificateRequestMaximumBackoffDuration,
		},
	})
}

// leaderElection holds the controller's Lease and closes elected once it has
// it; losing it ends the process with an error.
func leaderElection(ctx context.Context, c *config.ControllerConfiguration, factory *controller.ContextFactory,
	elected chan struct{}, watchdog *leaderelection.HealthzAdaptor) error {
	le, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, c.LeaderElectionConfig.Namespace,
		"cert-manager-controller", le.Client.CoreV1(), le.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "-external-cert-manager-controller", EventRecorder: le.Recorder})
	if err != nil {
		return err
	}
	lost := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   c.LeaderElectionConfig.LeaseDuration,
		RenewDeadline:   c.LeaderElectionConfig.RenewDeadline,
		RetryPeriod:     c.LeaderElectionConfig.RetryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        watchdog,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() { close(lost) },
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx)
	<-lost
	select {
	case <-ctx.Done(): // released on shutdown
		return nil
	default:
		return errors.New("leader election lost")
	}
}
