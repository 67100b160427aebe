// Command operator benchmarks the operator against a real kube-apiserver and
// etcd (envtest). It runs the manager binary as its own process, so that the
// peak RSS is the operator's alone, and watches sessions from outside:
//
//   - provisioning: N sessions that open at once; for each, the time from
//     its creation to its status showing the room (written after its Secret,
//     Pod, Service and RBAC exist);
//   - expiry: the same N sessions expire in the same second; for each, the
//     lag from its deadline to its deletion.
//
// It prints a table. Run it with `make bench` (which builds the envtest
// binaries first).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

func main() {
	sizes := flag.String("n", "100,1000", "comma-separated numbers of sessions")
	workers := flag.Int("workers", 32, "parallel creators")
	flag.Parse()
	if err := run(*sizes, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	n                    int
	provisionP50, p99    time.Duration
	perSecond            float64
	expiryP50, expiryP99 time.Duration
	peakRSS              string
}

func run(sizes string, workers int) error {
	if err := testenv.Require(); err != nil {
		return err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = -1, -1
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return err
	}

	if err := manifests.Create(context.Background(), c, filepath.Join(root, manifests.RoomPolicy)); err != nil {
		return err
	}
	mgr, err := startManager(root, env)
	if err != nil {
		return err
	}
	defer func() { _ = mgr.Process.Kill(); _ = mgr.Wait() }()

	var results []result
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-n: %w", err)
		}
		r, err := measure(c, n, workers)
		if err != nil {
			return fmt.Errorf("with %d sessions: %w", n, err)
		}
		r.peakRSS = peakRSS(mgr.Process.Pid)
		results = append(results, r)
	}
	fmt.Println()
	fmt.Println("| N | provisioned p50 | provisioned p99 | sessions/s | expiry lag p50 | expiry lag p99 | operator peak RSS |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %d | %s | %s | %.0f | %s | %s | %s |\n", r.n, ms(r.provisionP50), ms(r.p99), r.perSecond, ms(r.expiryP50), ms(r.expiryP99), r.peakRSS)
	}
	return nil
}

// startManager builds and starts cmd/manager against the envtest API server.
func startManager(root string, env *envtest.Environment) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp("", "sprechzimmer-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir, build.Stderr = root, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the manager: %w", err)
	}
	user, err := env.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	kcPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--kubeconfig="+kcPath, "--enable-webhooks=false", "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--public-base-url=https://video.example.test",
		"--max-concurrent-reconciles=16", "--kube-api-qps=5000", "--kube-api-burst=10000", "--log-level=error")
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

// measure creates n sessions that open now and expire together, and times
// both from the outside through a watch.
func measure(c client.WithWatch, n, workers int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(ctx, ns); err != nil {
		return result{}, err
	}
	// The API server ends watches now and then; resume from the last event.
	lastRV := ""
	openWatch := func() (watch.Interface, error) {
		return c.Watch(ctx, &videov1alpha1.VideoSessionList{}, client.InNamespace(ns.Name),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: lastRV, AllowWatchBookmarks: true}})
	}
	w, err := openWatch()
	if err != nil {
		return result{}, err
	}
	defer func() { w.Stop() }()

	// All expire at the same second, far enough ahead to set them all up.
	setup := time.Duration(n)*30*time.Millisecond + 15*time.Second
	expiresAt := time.Now().Add(setup).Truncate(time.Second).Add(time.Second)
	validFor := videov1alpha1.MinValidFor
	start := expiresAt.Add(-validFor)

	created := make([]time.Time, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	jobs := make(chan int)
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				s := &videov1alpha1.VideoSession{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("s-%05d", i)},
					Spec: videov1alpha1.VideoSessionSpec{
						StartTime: metav1.Time{Time: start},
						ValidFor:  &metav1.Duration{Duration: validFor},
					},
				}
				created[i] = time.Now()
				if err := c.Create(ctx, s); err != nil {
					errs <- err
				}
			}
		})
	}
	go func() {
		for i := range n {
			jobs <- i
		}
		close(jobs)
	}()

	provisioned := map[string]time.Time{}
	deleted := map[string]time.Time{}
	var lastProvisioned time.Time
	for len(deleted) < n {
		select {
		case err := <-errs:
			return result{}, err
		case <-ctx.Done():
			return result{}, fmt.Errorf("%d of %d provisioned, %d deleted: %w", len(provisioned), n, len(deleted), ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				if w, err = openWatch(); err != nil {
					return result{}, fmt.Errorf("resuming the watch: %w", err)
				}
				continue
			}
			s, isSession := ev.Object.(*videov1alpha1.VideoSession)
			if !isSession {
				continue
			}
			lastRV = s.ResourceVersion
			if ev.Type == watch.Bookmark {
				continue
			}
			now := time.Now()
			switch {
			case ev.Type == watch.Deleted:
				deleted[s.Name] = now
			case s.Status.URL != "" && s.Status.LinksSecretName != "" && provisioned[s.Name].IsZero():
				provisioned[s.Name] = now
				lastProvisioned = now
			}
		}
	}
	wg.Wait()
	if len(provisioned) < n {
		return result{}, fmt.Errorf("only %d of %d sessions were seen provisioned", len(provisioned), n)
	}
	if lastProvisioned.After(expiresAt) {
		return result{}, errors.New("provisioning took longer than the set-up time: expiry figures would be wrong")
	}
	var prov, lag []time.Duration
	for i := range n {
		name := fmt.Sprintf("s-%05d", i)
		prov = append(prov, provisioned[name].Sub(created[i]))
		lag = append(lag, deleted[name].Sub(expiresAt))
	}
	return result{
		n:            n,
		provisionP50: sample.Sample(prov).Percentile(50), p99: sample.Sample(prov).Percentile(99),
		perSecond: float64(n) / lastProvisioned.Sub(began).Seconds(),
		expiryP50: sample.Sample(lag).Percentile(50), expiryP99: sample.Sample(lag).Percentile(99),
	}, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// peakRSS reads the process's high-water mark of resident memory.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "n/a"
}
