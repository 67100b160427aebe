# Shared by hack/cluster-up.sh and hack/cluster-down.sh (sourced, not run):
# where the single-node cluster keeps its state, which addresses and names it
# uses, and small helpers. Everything the cluster writes lives under $STATE,
# except what the kernel and a few programs keep in fixed places (cgroups,
# iptables chains, the CNI bridge, /var/log/containers, /var/lib/cni); the
# down script removes those by name.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

STATE=${SPRECHZIMMER_CLUSTER_DIR:-/tmp/sprechzimmer-cluster}
NODE_NAME=${SPRECHZIMMER_NODE_NAME:-sprechzimmer-node}
APISERVER_PORT=${SPRECHZIMMER_APISERVER_PORT:-6443}
ETCD_PORT=${SPRECHZIMMER_ETCD_PORT:-12379}

POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/12
KUBERNETES_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
CNI_NETWORK=sprechzimmer
BRIDGE=szbr0

ENVTEST_DIR=$root/bin/envtest
KUBE_DIR=$root/bin/kube
IMAGES_DIR=$root/bin/images
CNI_BIN_DIR=${CNI_BIN_DIR:-/usr/lib/cni}

PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$STATE/pids
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
CONTAINERD_SOCK=$STATE/containerd/containerd.sock

# The order the components start in; the down script stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

# lock: one cluster-up or cluster-down at a time. The lock is on the state
# directory's parent (a directory can be flock'ed), so no lock file is left
# behind; cluster-up passes it on to the cluster-down it calls.
lock() {
  [[ -n "${SPRECHZIMMER_CLUSTER_LOCKED:-}" ]] && return 0
  mkdir -p "$(dirname "$STATE")"
  exec 8<"$(dirname "$STATE")"
  flock 8
  export SPRECHZIMMER_CLUSTER_LOCKED=1
}

log() { echo "$(basename "$0" .sh): $*" >&2; }
die() { log "$*"; exit 1; }

# kubectl: the one built beside the node's binaries if there, else the PATH's.
kubectl_bin() {
  if [[ -x "$KUBE_DIR/kubectl" ]]; then echo "$KUBE_DIR/kubectl"; else command -v kubectl; fi
}
kc() { "$(kubectl_bin)" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# ctr against this cluster's own containerd, in the CRI namespace.
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# pid_alive <component>: its pid file names a running process.
pid_alive() {
  local f=$PIDS/$1.pid
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# The project's version: the image tag of every image built here.
project_version() {
  if [[ -f "$root/internal/version/VERSION" ]]; then tr -d ' \n' <"$root/internal/version/VERSION"; else echo v0.1.0; fi
}

# The address the node and the API server advertise: the source address of
# the default route, else loopback.
host_ip() {
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1)
  echo "${ip:-127.0.0.1}"
}
