#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this host (root, a
# privileged container is enough): etcd and kube-apiserver from bin/envtest,
# kube-controller-manager, kube-scheduler, kubelet and kube-proxy from bin/kube
# (hack/kube-bins.sh), containerd (Debian's) with its own config, root, state
# and socket, runc, the bridge CNI plugin, the images from bin/images imported
# into containerd, and CoreDNS when its image is there. All state lives in one
# directory ($SPRECHZIMMER_CLUSTER_DIR, default /tmp/sprechzimmer-cluster);
# hack/cluster-down.sh removes it and everything else the cluster made.
#
#   hack/cluster-up.sh                 # prints the admin kubeconfig's path last
#   export KUBECONFIG=$(hack/cluster-up.sh)
#
# When the cluster is already up and its node Ready, it only prints the path.
# Any other leftover state is taken down first. Logs: $STATE/logs/<component>.log.
set -euo pipefail
# shellcheck source=hack/cluster/lib.sh
source "$(dirname "$0")/cluster/lib.sh"

started=$SECONDS

# --- host -------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "must run as root (containerd, runc, cgroups, iptables)"
lock
for bin in containerd runc ctr iptables openssl curl ip; do
  command -v "$bin" >/dev/null || die "$bin not found (apt-get install containerd runc iptables openssl curl iproute2)"
done
for plugin in bridge host-local portmap loopback; do
  [[ -x "$CNI_BIN_DIR/$plugin" ]] || die "CNI plugin $plugin not in $CNI_BIN_DIR (apt-get install containernetworking-plugins)"
done
for bin in "$ENVTEST_DIR/etcd" "$ENVTEST_DIR/kube-apiserver"; do
  [[ -x "$bin" ]] || die "$bin missing: run make envtest"
done
for bin in kube-controller-manager kube-scheduler kubelet kube-proxy; do
  [[ -x "$KUBE_DIR/$bin" ]] || die "$KUBE_DIR/$bin missing: run make kube"
done
[[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] || die "no memory cgroup controller under /sys/fs/cgroup"

if [[ -d "$STATE" ]]; then
  if pid_alive kube-apiserver && pid_alive kubelet \
    && [[ $(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; then
    log "already up" # internal/testcluster reads this line: the cluster is reused
    echo "$KUBECONFIG_ADMIN"
    exit 0
  fi
  log "taking down the leftovers of an earlier cluster in $STATE"
  "$root/hack/cluster-down.sh" >&2
fi

HOST_IP=$(host_ip)
VERSION=$(project_version)
PAUSE_IMAGE=ghcr.io/sprechzimmer/pause:$VERSION
mkdir -p "$STATE" "$PKI" "$LOGS" "$PIDS"
chmod 700 "$STATE"

# What the host looked like before, so that cluster-down puts back exactly
# that: sysctls the CNI bridge changes, iptables chains, fixed directories.
{
  echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
  for d in /var/log/containers /var/lib/cni /run/containerd /var/run/netns; do
    [[ -e "$d" ]] && echo "existed=$d"
  done
} >"$STATE/host-before"
for cmd in iptables ip6tables; do
  for table in filter nat mangle raw; do
    "$cmd" -t "$table" -S 2>/dev/null | awk -v t="$table" -v c="$cmd" '$1 == "-N" {print c, t, $2}'
  done
done >"$STATE/chains-before"
nft list tables 2>/dev/null >"$STATE/nft-tables-before" || true

# --- PKI --------------------------------------------------------------------

# cert <name> <subject> <extensions>: a key and a certificate signed by the CA.
cert() {
  local name=$1 subject=$2 ext=$3
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

log "generating the PKI"
openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=sprechzimmer-cluster-ca" -days 30 -sha256 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out "$PKI/ca.crt" 2>/dev/null
cert apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,IP:$HOST_IP"
cert admin "/O=system:masters/CN=sprechzimmer-admin" "$client_ext"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
cert controller-manager "/CN=system:kube-controller-manager" "$client_ext"
cert scheduler "/CN=system:kube-scheduler" "$client_ext"
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client_ext"
cert kube-proxy "/CN=system:kube-proxy" "$client_ext"
# Service-account tokens: the API server signs with sa.key, checks with sa.pub.
openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
chmod 600 "$PKI"/*.key

# Encryption at rest for what holds personal data: join tokens and TURN
# credentials (Secrets) and the therapist's note (VideoSessions). etcd's
# write-ahead log keeps every write until etcd snapshots and drops old
# files; encrypted, what it keeps there is unreadable (docs/install.md).
cat >"$PKI/encryption.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, videosessions.video.sprechzimmer.dev]
  providers:
  - secretbox:
      keys:
      - name: key1
        secret: $(head -c 32 /dev/urandom | base64 -w0)
  - identity: {}
EOF
chmod 600 "$PKI/encryption.yaml"

# kubeconfig <name>: a kubeconfig for the client certificate <name>.
kubeconfig() {
  local name=$1
  cat >"$STATE/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sprechzimmer
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$name.crt")
    client-key-data: $(base64 -w0 <"$PKI/$name.key")
contexts:
- name: sprechzimmer
  context: {cluster: sprechzimmer, user: $name}
current-context: sprechzimmer
EOF
  chmod 600 "$STATE/$name.kubeconfig"
}
for name in admin controller-manager scheduler kubelet kube-proxy; do
  kubeconfig "$name"
done

# --- processes ----------------------------------------------------------------

# start <component> <command>...: runs it in its own session, logging to
# $LOGS/<component>.log, its pid in $PIDS/<component>.pid, without the lock.
start() {
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null 8<&- &
  echo $! >"$PIDS/$name.pid"
}

# wait_for <what> <seconds> <command>...: polls the command until it succeeds.
wait_for() {
  local what=$1 timeout=$2 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what not ready after ${timeout}s (logs: $LOGS)"
    fi
    sleep 0.5
  done
}

log "starting etcd"
start etcd "$ENVTEST_DIR/etcd" --data-dir "$STATE/etcd" --name node \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "node=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

log "starting kube-apiserver"
start kube-apiserver "$ENVTEST_DIR/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$HOST_IP" \
  --cert-dir "$STATE/apiserver" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP,Hostname \
  --authorization-mode Node,RBAC \
  --encryption-provider-config "$PKI/encryption.yaml" \
  --enable-admission-plugins NodeRestriction \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" \
  --api-audiences "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --profiling=false
wait_for kube-apiserver 90 kc get --raw /readyz

log "starting kube-controller-manager and kube-scheduler"
start kube-controller-manager "$KUBE_DIR/kube-controller-manager" \
  --kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false \
  --controllers '*' --use-service-account-credentials \
  --root-ca-file "$PKI/ca.crt" \
  --service-account-private-key-file "$PKI/sa.key" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --cluster-name sprechzimmer \
  --profiling=false
start kube-scheduler "$KUBE_DIR/kube-scheduler" \
  --kubeconfig "$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false

# --- containerd ---------------------------------------------------------------

mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/containerd"
cat >"$STATE/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

# restrict_oom_score_adj: the sandbox asks for oom_score_adj -998, which a
# process in this container may not set (it may not go below its own); without
# it every sandbox fails with "can't get final child's PID from pipe: EOF".
cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$STATE/containerd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF

log "starting containerd"
start containerd containerd --config "$STATE/containerd/config.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

shopt -s nullglob
tars=("$IMAGES_DIR"/*.tar)
for tar in "${tars[@]}"; do
  log "importing $(basename "$tar")"
  ctr_k8s images import --all-platforms "$tar" >/dev/null
done
images=$(ctr_k8s images ls -q)
if ! grep -qxF "$PAUSE_IMAGE" <<<"$images"; then
  die "sandbox image $PAUSE_IMAGE not in $IMAGES_DIR (run make images)"
fi

# --- kubelet and kube-proxy -----------------------------------------------------

mkdir -p "$STATE/kubelet/root" "$STATE/kubelet/pod-logs"
cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Clients authenticate with a certificate from the cluster CA or a bearer
# token the API server vouches for (webhook); what they may do, the API server
# decides (SubjectAccessReview). No anonymous access, no read-only port.
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization:
  mode: Webhook
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
# The host has the cgroup v1 controllers mounted (cgroup2 is there but has no
# controllers), and no systemd runs: cgroupfs is the only driver that works.
cgroupDriver: cgroupfs
# kubelet 1.35+ refuses to start on cgroup v1 unless told otherwise. The host
# (a privileged container on a cgroup v1 host) has no cgroup v2 to offer, and
# v1 still works for everything this cluster needs (memory and CPU limits).
failCgroupV1: false
# The host may have swap; pods get none either way (default swapBehavior).
failSwapOn: false
containerRuntimeEndpoint: "unix://$CONTAINERD_SOCK"
clusterDNS: ["$DNS_SERVICE_IP"]
clusterDomain: "$CLUSTER_DOMAIN"
podLogsDir: "$STATE/kubelet/pod-logs"
# cadvisor cannot see the root filesystem's usage from inside this container,
# so ephemeral-storage accounting and disk-based eviction are off; images are
# imported, not pulled, so image garbage collection would lose them for good.
localStorageCapacityIsolation: false
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "100Mi"
serializeImagePulls: false
EOF

log "starting kubelet"
start kubelet "$KUBE_DIR/kubelet" \
  --config "$STATE/kubelet/config.yaml" \
  --kubeconfig "$STATE/kubelet.kubeconfig" \
  --root-dir "$STATE/kubelet/root" \
  --cert-dir "$STATE/kubelet/pki" \
  --hostname-override "$NODE_NAME" \
  --node-ip "$HOST_IP"

cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: "$STATE/kube-proxy.kubeconfig"
hostnameOverride: "$NODE_NAME"
clusterCIDR: "$POD_CIDR"
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# NodePorts on the node's primary address only.
nodePortAddresses: [primary]
# Leave the host's conntrack sysctls and route_localnet as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
EOF
log "starting kube-proxy"
start kube-proxy "$KUBE_DIR/kube-proxy" --config "$STATE/kube-proxy.yaml"

log "waiting for node $NODE_NAME to be Ready"
wait_for "node $NODE_NAME" 120 kc get node "$NODE_NAME"
kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null \
  || die "node $NODE_NAME not Ready (logs: $LOGS)"

# --- add-ons --------------------------------------------------------------------

# The CoreDNS image is whichever imported image is named .../coredns:<tag>.
coredns_image=${COREDNS_IMAGE:-$(grep -E '/coredns:[^@]+$' <<<"$images" | head -1 || true)}
if [[ -n "$coredns_image" ]]; then
  log "applying CoreDNS ($coredns_image)"
  sed -e "s|@COREDNS_IMAGE@|$coredns_image|g" -e "s|@DNS_SERVICE_IP@|$DNS_SERVICE_IP|g" \
    -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" "$root/hack/cluster/coredns.yaml" | kc apply -f - >/dev/null
  kc -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null \
    || die "CoreDNS not ready (kubectl -n kube-system describe pods -l k8s-app=kube-dns)"
else
  log "no CoreDNS image in $IMAGES_DIR: skipping CoreDNS (cluster DNS will not answer)"
fi

log "up in $((SECONDS - started)) s; KUBECONFIG=$KUBECONFIG_ADMIN"
echo "$KUBECONFIG_ADMIN"
