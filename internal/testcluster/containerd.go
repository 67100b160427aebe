package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// etcdPortEnv moves etcd's client port; hack/cluster/lib.sh reads it too.
const etcdPortEnv = "SPRECHZIMMER_ETCD_PORT"

// EtcdEndpoint is the client URL of the cluster's etcd (plain HTTP on
// loopback, as hack/cluster-up.sh starts it).
func EtcdEndpoint() string {
	port := os.Getenv(etcdPortEnv)
	if port == "" {
		port = "12379"
	}
	return "http://127.0.0.1:" + port
}

// EtcdDataDir is the data directory of the cluster's etcd.
func EtcdDataDir() string { return filepath.Join(StateDir(), "etcd") }

// ctr runs containerd's client against the cluster's containerd, in the
// CRI namespace where the kubelet's images and containers live.
func ctr(ctx context.Context, args ...string) ([]byte, error) {
	sock := filepath.Join(StateDir(), "containerd", "containerd.sock")
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("ctr %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// ContainersOf lists the ids of the containers (the sandbox's included)
// that containerd still holds for the Pod with uid.
func ContainersOf(ctx context.Context, uid types.UID) ([]string, error) {
	out, err := ctr(ctx, "containers", "ls", "-q", fmt.Sprintf("labels.%q==%s", "io.kubernetes.pod.uid", uid))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}
