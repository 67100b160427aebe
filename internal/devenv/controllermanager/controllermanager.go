// Package controllermanager runs kube-controller-manager beside an envtest
// control plane, with the controllers of a cluster that the product relies
// on and envtest lacks: the garbage collector (an expired session's Secret,
// Service and Pod go with it), the namespace controller (a deleted
// namespace is emptied) and the ServiceAccount controllers (each namespace
// gets its "default" ServiceAccount; legacy token Secrets are filled in).
//
// Every controller acts with a ServiceAccount of its own in kube-system and
// the RBAC role Kubernetes bootstraps for it (--use-service-account-credentials),
// as on a cluster; the process itself authenticates as
// system:kube-controller-manager with a client certificate from envtest.
package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Controllers are the controllers it runs (kube-controller-manager's
// --controllers names).
var Controllers = []string{
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
}

// User is the identity the process authenticates as; the API server's
// bootstrap RBAC lets it create the controllers' ServiceAccounts and tokens.
const User = "system:kube-controller-manager"

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 10 * time.Second

// Options configure the process.
type Options struct {
	// Binary is the kube-controller-manager executable
	// (testenv.ControllerManager finds it).
	Binary string
	// Dir receives its kubeconfig and the API server's CA; it must exist.
	Dir string
	// Output receives its log (klog at level 0: starts, warnings and
	// errors; no object's content).
	Output io.Writer
}

// Process is a running kube-controller-manager.
type Process struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start starts kube-controller-manager against env's API server and
// returns once the process runs. It stops when ctx ends or Stop is called.
func Start(ctx context.Context, env *envtest.Environment, opts Options) (*Process, error) {
	argv, err := args(env, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, opts.Binary, argv...)
	cmd.Stdout, cmd.Stderr = opts.Output, opts.Output
	// A process group of its own: a Ctrl-C in the terminal reaches the
	// program that started it, which stops it with SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	p := &Process{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = cmd.Wait()
	}()
	return p, nil
}

// args writes the process's kubeconfig and CA file into opts.Dir and
// returns its command line.
func args(env *envtest.Environment, opts Options) ([]string, error) {
	user, err := env.AddUser(envtest.User{Name: User}, nil)
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager's user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	kubeconfigPath := filepath.Join(opts.Dir, "kube-controller-manager.kubeconfig")
	caPath := filepath.Join(opts.Dir, "kube-controller-manager-ca.crt")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(caPath, env.Config.CAData, 0o600); err != nil {
		return nil, err
	}
	return []string{
		"--kubeconfig=" + kubeconfigPath,
		"--controllers=" + strings.Join(Controllers, ","),
		"--use-service-account-credentials=true",
		// The key the API server signs ServiceAccount tokens with (envtest
		// makes it), for the legacy token Secrets.
		"--service-account-private-key-file=" + filepath.Join(env.ControlPlane.APIServer.CertDir, "sa-signer.key"),
		"--root-ca-file=" + caPath,
		"--leader-elect=false",
		// Nothing scrapes or probes it here: no port of its own.
		"--secure-port=0",
		"--v=0",
	}, nil
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is why the process ended, once Done is closed.
func (p *Process) Err() error {
	<-p.done
	if p.err != nil {
		return fmt.Errorf("kube-controller-manager: %w", p.err)
	}
	return errors.New("kube-controller-manager exited")
}

// Stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *Process) Stop() {
	p.cancel()
	<-p.done
}
