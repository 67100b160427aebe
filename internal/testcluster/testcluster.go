// Package testcluster brings up and takes down the real single-node cluster
// of hack/cluster-up.sh and hack/cluster-down.sh for tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet on
// containerd and runc, kube-proxy. Supported says why a host cannot run it,
// so that a test can skip with that reason.
package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// StateDirEnv is the variable that moves the cluster's state directory; the
// scripts read it too.
const StateDirEnv = "SPRECHZIMMER_CLUSTER_DIR"

// DefaultStateDir is where the cluster keeps all its state unless
// StateDirEnv says otherwise.
const DefaultStateDir = "/tmp/sprechzimmer-cluster"

// StateDir is the cluster's state directory.
func StateDir() string {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d
	}
	return DefaultStateDir
}

// Cluster is a running cluster.
type Cluster struct {
	// Kubeconfig is the path of the admin kubeconfig (group system:masters).
	Kubeconfig string
	// Config is the admin's client configuration.
	Config *rest.Config
	// Reused is true when the cluster was already up before Up was called,
	// so that a test leaves it up for whoever started it. Up calls are
	// serialised (the scripts take a lock), but nothing counts users: two
	// test processes that each bring the cluster up must not overlap.
	Reused bool

	root string
}

// requirement is one thing the host must have; check returns why it has not.
type requirement struct {
	name  string
	check func(root string) error
}

// requirements are checked in order; the first that fails is the reason.
var requirements = []requirement{
	{"linux", func(string) error {
		if runtime.GOOS != "linux" {
			return fmt.Errorf("containers need Linux, this is %s", runtime.GOOS)
		}
		return nil
	}},
	{"root", func(string) error {
		if os.Geteuid() != 0 {
			return fmt.Errorf("containerd, runc, cgroups and iptables need root, running as uid %d", os.Geteuid())
		}
		return nil
	}},
	{"programs", func(string) error {
		for _, p := range []string{"containerd", "runc", "ctr", "iptables", "openssl", "curl", "ip"} {
			if _, err := exec.LookPath(p); err != nil {
				return fmt.Errorf("%s not on PATH (Debian: apt-get install containerd runc iptables openssl curl iproute2)", p)
			}
		}
		return nil
	}},
	{"cni", func(string) error {
		for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
			if _, err := os.Stat(filepath.Join(cniBinDir(), p)); err != nil {
				return fmt.Errorf("CNI plugin %s not in %s (Debian: apt-get install containernetworking-plugins)", p, cniBinDir())
			}
		}
		return nil
	}},
	{"cgroups", func(string) error {
		for _, p := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/cgroup.controllers"} {
			if _, err := os.Stat(p); err == nil {
				return nil
			}
		}
		return errors.New("no memory cgroup controller under /sys/fs/cgroup")
	}},
	{"binaries", func(root string) error {
		for _, b := range []string{"envtest/etcd", "envtest/kube-apiserver", "kube/kube-controller-manager", "kube/kube-scheduler", "kube/kubelet", "kube/kube-proxy"} {
			if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
				return fmt.Errorf("bin/%s missing: run make envtest kube", b)
			}
		}
		return nil
	}},
	{"images", func(root string) error {
		tars, _ := filepath.Glob(filepath.Join(root, "bin", "images", "pause*.tar"))
		if len(tars) == 0 {
			return errors.New("no pause image in bin/images: run make images")
		}
		return nil
	}},
}

func cniBinDir() string {
	if d := os.Getenv("CNI_BIN_DIR"); d != "" {
		return d
	}
	return "/usr/lib/cni"
}

// Supported returns nil when this host can run the cluster and its binaries
// are built, else an error saying exactly what is missing.
func Supported() error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	for _, r := range requirements {
		if err := r.check(root); err != nil {
			return fmt.Errorf("no real cluster on this host: %w", err)
		}
	}
	return nil
}

// Up runs hack/cluster-up.sh, which starts the cluster (or finds it already
// up) and waits for its node to be Ready. The scripts' progress goes to
// stderr; their failure is returned with the last lines of their output,
// after hack/cluster-down.sh has removed what the failed start left.
func Up(ctx context.Context) (*Cluster, error) {
	if err := Supported(); err != nil {
		return nil, err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	out, stderr, err := script(ctx, root, "cluster-up.sh")
	if err != nil {
		// Whatever it started before it failed goes again, so that a
		// failed start leaves the host as it found it.
		_, _, downErr := script(context.WithoutCancel(ctx), root, "cluster-down.sh")
		return nil, errors.Join(err, downErr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	kubeconfig := lines[len(lines)-1]
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil, fmt.Errorf("cluster-up.sh printed no kubeconfig: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	return &Cluster{
		Kubeconfig: kubeconfig,
		Config:     cfg,
		Reused:     strings.Contains(stderr, alreadyUp),
		root:       root,
	}, nil
}

// Down runs hack/cluster-down.sh, which stops everything and removes all the
// cluster left on the host; it fails when something is left.
func (c *Cluster) Down(ctx context.Context) error {
	_, _, err := script(ctx, c.root, "cluster-down.sh")
	return err
}

// alreadyUp is what cluster-up.sh says when it found the cluster up.
const alreadyUp = "cluster-up: already up"

// script runs hack/<name> and returns its stdout and stderr; stderr also goes
// to os.Stderr and, on failure, its tail into the error.
func script(ctx context.Context, root, name string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var outBuf, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", name))
	cmd.Dir = root
	cmd.Stdout = &outBuf
	cmd.Stderr = &teeTail{w: os.Stderr, tail: &errBuf}
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("%s: %w: %s", name, err, lastLines(errBuf.String(), 5))
	}
	return outBuf.String(), errBuf.String(), nil
}

// teeTail writes to w and keeps a copy in tail.
type teeTail struct {
	w    *os.File
	tail *bytes.Buffer
}

func (t *teeTail) Write(p []byte) (int, error) {
	t.tail.Write(p)
	return t.w.Write(p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
