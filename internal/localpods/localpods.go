// Package localpods is a small stand-in for a kubelet in the local setup: it
// runs each room Pod's container command as a local process with the Pod's
// environment, and writes the Pod's status. The operator creates and
// deletes Pods exactly as on a cluster; only the Pods run differently.
//
// It supports what room Pods use: one container, env values and Secret
// key references, a service account token (from the TokenRequest API), and
// a readiness probe on /readyz. Each process listens on its own loopback
// port; Resolve tells the front door which, like a cluster DNS would.
package localpods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	signalingconfig "github.com/sprechzimmer/sprechzimmer/signaling/config"
)

// Runner runs room Pods as local processes.
type Runner struct {
	// Client reads Secrets and Services and writes Pod status.
	Client client.Client
	// Binaries maps a container's command (its first element, e.g.
	// "/signaling") to a local executable.
	Binaries map[string]string
	// APIServer and CAData are how the processes reach the API server.
	APIServer string
	CAData    []byte
	// WorkDir holds each process's service account files.
	WorkDir string
	// Output receives the processes' logs.
	Output io.Writer
	// Resolve maps a Service host name to a local address, or forgets it
	// when addr is empty (internal/devenv/resolver).
	Resolve func(host, addr string)
	// ServiceHost names a Service like the cluster's DNS.
	ServiceHost func(name, namespace string) string

	mu    sync.Mutex
	procs map[types.NamespacedName]*process
	wg    sync.WaitGroup
}

type process struct {
	uid   types.UID
	cmd   *exec.Cmd
	hosts []string
	dir   string
	done  chan struct{}
}

// SetupWithManager runs the Runner in mgr, whose cache must hold the
// operator's Pods (operator.New sets that up).
func (r *Runner) SetupWithManager(mgr ctrl.Manager) error {
	r.procs = map[types.NamespacedName]*process{}
	return ctrl.NewControllerManagedBy(mgr).For(&corev1.Pod{}).Named("localpods").Complete(r)
}

// Reconcile starts a process for a new Pod and stops the one of a Pod that
// is gone or being deleted.
func (r *Runner) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, req.NamespacedName, pod)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	r.mu.Lock()
	p := r.procs[req.NamespacedName]
	r.mu.Unlock()
	if p != nil && (apierrors.IsNotFound(err) || !pod.DeletionTimestamp.IsZero() || pod.UID != p.uid) {
		stop(p)
		p = nil
	}
	if apierrors.IsNotFound(err) || !pod.DeletionTimestamp.IsZero() || p != nil {
		return ctrl.Result{}, nil
	}
	if pod.Labels[roomcontract.LabelComponent] != roomcontract.ComponentRoom || pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.start(ctx, pod)
}

func (r *Runner) start(ctx context.Context, pod *corev1.Pod) error {
	log := logf.FromContext(ctx)
	c := pod.Spec.Containers[0]
	if len(c.Command) == 0 || r.Binaries[c.Command[0]] == "" {
		return fmt.Errorf("pod %s: no local binary for its command", pod.Name)
	}
	addr, err := freeLoopbackAddr(ctx)
	if err != nil {
		return err
	}
	dir := filepath.Join(r.WorkDir, string(pod.UID))
	if err := r.writeServiceAccount(ctx, pod, dir); err != nil {
		return err
	}
	env, err := r.env(ctx, pod, c)
	if err != nil {
		return err
	}
	env = append(env,
		signalingconfig.EnvListen+"="+addr,
		signalingconfig.EnvAPIServer+"="+r.APIServer,
		signalingconfig.EnvServiceAccountDir+"="+dir,
		"PATH="+os.Getenv("PATH"))
	cmd := exec.Command(r.Binaries[c.Command[0]], c.Args...) //nolint:noctx // the process outlives this reconcile; Stop and Pod deletion end it
	cmd.Env, cmd.Stdout, cmd.Stderr = env, r.Output, r.Output
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting pod %s: %w", pod.Name, err)
	}
	key := client.ObjectKeyFromObject(pod)
	p := &process{uid: pod.UID, cmd: cmd, dir: dir, done: make(chan struct{})}
	r.mu.Lock()
	r.procs[key] = p
	r.mu.Unlock()
	log.Info("started room pod", "pod", pod.Name, "pid", cmd.Process.Pid)

	// The Pod's status after the process ends is written after this
	// reconcile has returned, so it must not share its cancellation.
	exitCtx := context.WithoutCancel(ctx)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := cmd.Wait()
		close(p.done)
		r.forget(key, p)
		phase := corev1.PodSucceeded
		if err != nil {
			phase = corev1.PodFailed
		}
		r.writeStatus(exitCtx, pod, phase, false)
	}()
	if err := waitReady(ctx, addr, p.done); err != nil {
		return fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	hosts := r.register(ctx, pod, addr)
	r.mu.Lock()
	p.hosts = hosts
	r.mu.Unlock()
	r.writeStatus(ctx, pod, corev1.PodRunning, true)
	return nil
}

// env resolves the container's environment as a kubelet would.
func (r *Runner) env(ctx context.Context, pod *corev1.Pod, c corev1.Container) ([]string, error) {
	var env []string
	for _, e := range c.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			if ref.SecretKeyRef == nil {
				return nil, fmt.Errorf("pod %s: env %s: only Secret references are supported", pod.Name, e.Name)
			}
			secret := &corev1.Secret{}
			if err := r.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: ref.SecretKeyRef.Name}, secret); err != nil {
				return nil, fmt.Errorf("pod %s: env %s: %w", pod.Name, e.Name, err)
			}
			v = string(secret.Data[ref.SecretKeyRef.Key])
		}
		env = append(env, e.Name+"="+v)
	}
	return env, nil
}

// writeServiceAccount puts a bound token for the Pod's service account and
// the API server's CA where the process looks for them.
func (r *Runner) writeServiceAccount(ctx context.Context, pod *corev1.Pod, dir string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Spec.ServiceAccountName}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](24 * 3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if err := r.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return fmt.Errorf("requesting a token for pod %s: %w", pod.Name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "token"), []byte(tr.Status.Token), 0o600),
		os.WriteFile(filepath.Join(dir, "ca.crt"), r.CAData, 0o600))
}

// register points the host names of the Services that select the Pod at
// its local address.
func (r *Runner) register(ctx context.Context, pod *corev1.Pod, addr string) []string {
	var services corev1.ServiceList
	if err := r.Client.List(ctx, &services, client.InNamespace(pod.Namespace)); err != nil {
		return nil
	}
	var hosts []string
	for _, svc := range services.Items {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			host := r.ServiceHost(svc.Name, svc.Namespace)
			r.Resolve(host, addr)
			hosts = append(hosts, host)
		}
	}
	return hosts
}

func (r *Runner) writeStatus(ctx context.Context, pod *corev1.Pod, phase corev1.PodPhase, ready bool) {
	fresh := &corev1.Pod{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(pod), fresh); err != nil || fresh.UID != pod.UID {
		return
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	now := metav1.Now()
	fresh.Status.Phase = phase
	fresh.Status.PodIP = "127.0.0.1"
	fresh.Status.StartTime = &now
	fresh.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: now}}
	state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	if phase != corev1.PodRunning {
		state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: now, Reason: string(phase)}}
	}
	c := fresh.Spec.Containers[0]
	fresh.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: ready, Started: ptr.To(ready), State: state}}
	_ = r.Client.Status().Update(ctx, fresh)
}

// forget drops an ended process and its host names.
func (r *Runner) forget(key types.NamespacedName, p *process) {
	r.mu.Lock()
	if r.procs[key] == p {
		delete(r.procs, key)
	}
	hosts := p.hosts
	r.mu.Unlock()
	for _, h := range hosts {
		r.Resolve(h, "")
	}
	_ = os.RemoveAll(p.dir)
}

// Stop ends every process and waits for them.
func (r *Runner) Stop() {
	r.mu.Lock()
	var all []*process
	for _, p := range r.procs {
		all = append(all, p)
	}
	r.mu.Unlock()
	for _, p := range all {
		stop(p)
	}
	r.wg.Wait()
}

// stop sends SIGTERM, then SIGKILL after a grace period.
func stop(p *process) {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freeLoopbackAddr(ctx context.Context) (string, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// waitReady polls the process's /readyz, as a readiness probe would.
func waitReady(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited before it was ready")
		case <-ctx.Done():
			return errors.New("not ready in time")
		case <-tick.C:
		}
	}
}
