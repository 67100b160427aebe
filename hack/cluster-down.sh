#!/usr/bin/env bash
# Takes down the single-node cluster hack/cluster-up.sh started and removes
# everything it left on the host: Pods (so their network is torn down through
# CNI), containers and sandboxes, the processes (by the pids it recorded, and
# containerd shims by this cluster's socket), mounts under the state
# directory, the CNI bridge, the iptables chains kube-proxy, the kubelet and
# the CNI plugins made (only chains that were not there before), the kubelet's
# cgroups, the sysctl the bridge plugin changed, and the state directory.
# Finally it checks that no process, mount, interface, chain or cgroup is
# left, and fails naming what is.
#
#   hack/cluster-down.sh
set -euo pipefail
# shellcheck source=hack/cluster/lib.sh
source "$(dirname "$0")/cluster/lib.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root"
lock
if [[ ! -d "$STATE" ]]; then
  log "nothing to take down ($STATE does not exist)"
  exit 0
fi

# stop <component>: TERM, then KILL after 15 s, by the recorded pid.
stop() {
  local name=$1 pid i
  [[ -f "$PIDS/$name.pid" ]] || return 0
  pid=$(cat "$PIDS/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}

# 1. Pods away while the kubelet still runs, so that each sandbox's network is
# torn down through CNI. Controllers are stopped first so nothing comes back.
stop kube-controller-manager
stop kube-scheduler
if pid_alive kube-apiserver && pid_alive kubelet && kc get --raw /readyz >/dev/null 2>&1; then
  log "deleting all Pods"
  kc delete pods --all --all-namespaces --grace-period=1 --wait=true --timeout=60s >/dev/null 2>&1 \
    || log "not every Pod went away in 60 s; removing their containers directly"
fi

# 2. kube-proxy's rules, then the kubelet.
log "stopping kube-proxy and the kubelet ($SECONDS s)"
stop kube-proxy
if [[ -x "$KUBE_DIR/kube-proxy" ]]; then
  "$KUBE_DIR/kube-proxy" --cleanup --config "$STATE/kube-proxy.yaml" >"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
fi
stop kubelet

log "removing containers, stopping containerd ($SECONDS s)"
# 3. Containers and sandboxes still in containerd, then containerd itself and
# any shim it left (found by this cluster's containerd socket in its argv).
if pid_alive containerd; then
  for task in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
  done
  sleep 1
  for task in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks delete -f "$task" >/dev/null 2>&1 || true
  done
  for c in $(ctr_k8s containers ls -q 2>/dev/null); do
    ctr_k8s containers delete "$c" >/dev/null 2>&1 || true
  done
fi
stop containerd
# ours_pids: processes other than this script whose argv names the state directory.
ours_pids() {
  # The pattern comes from a file so that grep's own argv does not name it.
  grep -laFf <(echo "$STATE") /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true
}
for pid in $(ours_pids); do
  kill -KILL "$pid" 2>/dev/null || true
done

# 4. The control plane.
log "stopping kube-apiserver and etcd ($SECONDS s)"
stop kube-apiserver
stop etcd

log "removing mounts, network, cgroups and $STATE ($SECONDS s)"
# 5. Mounts under the state directory (deepest first), and the network
# namespaces containerd mounted there.
umount_all() {
  local m
  findmnt -rn -o TARGET | awk -v s="$STATE" 'index($0, s) == 1' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
umount_all

# 6. The network: the bridge, and iptables chains that were not there before
# (kube-proxy's, the kubelet's KUBE-IPTABLES-HINT/KUBE-KUBELET-CANARY, the
# bridge plugin's masquerade and portmap's CNI-HOSTPORT-*).
ip link delete "$BRIDGE" 2>/dev/null || true
for cmd in iptables ip6tables; do
  for table in filter nat mangle raw; do
    chains=$("$cmd" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}') || true
    for chain in $chains; do
      grep -qxF "$cmd $table $chain" "$STATE/chains-before" 2>/dev/null && continue
      # Rules that jump to it, anywhere in the table, go first.
      rules=$("$cmd" -t "$table" -S 2>/dev/null | grep -E -- "-j $chain( |\$)" | sed 's/^-A /-D /') || true
      while read -r rule; do
        [[ -n "$rule" ]] || continue
        # The rule is iptables' own output, quoted comments included.
        eval "$cmd -t $table $rule" 2>/dev/null || true
      done <<<"$rules"
      "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $chains; do
      grep -qxF "$cmd $table $chain" "$STATE/chains-before" 2>/dev/null && continue
      "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
done

# The iptables tables (nf_tables backend) that the kubelet and kube-proxy
# created and that are now empty: only ACCEPT policies, no chain, no rule.
if command -v nft >/dev/null; then
  nft list tables 2>/dev/null | while read -r _ family table; do
    grep -qxF "table $family $table" "$STATE/nft-tables-before" 2>/dev/null && continue
    case "$family" in ip) cmd=iptables ;; ip6) cmd=ip6tables ;; *) continue ;; esac
    case "$table" in filter | nat | mangle | raw) ;; *) continue ;; esac
    rules=$("$cmd" -t "$table" -S 2>/dev/null) || continue
    if ! grep -qv '^-P [A-Z]* ACCEPT$' <<<"$rules"; then
      nft delete table "$family" "$table" 2>/dev/null || true
    fi
  done
fi

# 7. The kubelet's cgroups (kubepods under each v1 controller), deepest first,
# after killing any container process a killed shim left in them.
for procs in /sys/fs/cgroup/*/kubepods/ /sys/fs/cgroup/kubepods/; do
  [[ -d "$procs" ]] || continue
  find "$procs" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r pid; do
    kill -KILL "$pid" 2>/dev/null || true
  done
done
sleep 0.5
for hier in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d "$hier" ]] || continue
  find "$hier" -depth -type d -exec rmdir {} \; 2>/dev/null || true
done

# 8. The sysctl the bridge plugin set, and fixed directories that were not
# there before (the kubelet's /var/log/containers links, the CNI cache).
before=$STATE/host-before
if [[ -f "$before" ]]; then
  fwd=$(sed -n 's/^ip_forward=//p' "$before")
  [[ -n "$fwd" ]] && echo "$fwd" >/proc/sys/net/ipv4/ip_forward
fi
for d in /var/log/containers /var/lib/cni /run/containerd /var/run/netns; do
  if grep -qxF "existed=$d" "$before" 2>/dev/null; then
    find "$d" -maxdepth 1 -lname "$STATE/*" -delete 2>/dev/null || true
    rm -f "$d/results/$CNI_NETWORK"-* 2>/dev/null || true
  elif [[ "$d" == /run/containerd ]] && pgrep -x containerd >/dev/null; then
    : # another containerd on this host (ctr and the shims use it too) keeps it
  else
    rm -rf "$d"
  fi
done

# 9. The state directory, then the check.
chains_before=$(cat "$STATE/chains-before" 2>/dev/null || true)
umount_all
rm -rf "$STATE"

left=()
[[ -z "$(ours_pids)" ]] || left+=("processes: $(ours_pids | tr '\n' ' ')")
if grep -qF "$STATE" <<<"$(findmnt -rn -o TARGET)"; then left+=("mounts under $STATE"); fi
if ip link show "$BRIDGE" >/dev/null 2>&1; then left+=("interface $BRIDGE"); fi
for cmd in iptables ip6tables; do
  for table in filter nat mangle raw; do
    n=$("$cmd" -t "$table" -S 2>/dev/null | awk -v c="$cmd" -v t="$table" '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print c, t, $2}' \
      | grep -cvxF -e "${chains_before:-none}" || true)
    [[ "$n" -eq 0 ]] || left+=("$n $cmd $table chains KUBE-*/CNI-*")
  done
done
for hier in /sys/fs/cgroup/*/kubepods; do
  [[ -d "$hier" ]] && left+=("cgroup $hier")
done
if [[ ${#left[@]} -gt 0 ]]; then
  die "left behind: ${left[*]}"
fi
log "down in $SECONDS s: no process, mount, interface, iptables chain or cgroup of the cluster left"
