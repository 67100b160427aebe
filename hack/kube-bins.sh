#!/usr/bin/env bash
# Builds Kubernetes commands (k8s.io/kubernetes/cmd/<name>) at one pinned
# version from the Go module proxy into <out-dir>, version-stamped like a
# release build. Nothing is downloaded but Go modules. A command whose binary
# is there and whose stamp in <out-dir>/.versions says this version is skipped,
# so a second run does nothing. Commands are built one at a time, in the given
# order, and each is moved into place as soon as it is built.
#
#   hack/kube-bins.sh bin/kube kube-controller-manager kubelet
#   KUBE_VERSION=v1.37.2 hack/kube-bins.sh bin/envtest kube-apiserver
#
# <out-dir>/.versions is one line of name=version words; this script replaces
# only the words of the commands it builds (hack/envtest-bins.sh adds etcd's).
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}   # the minor controller-runtime v0.25 targets

if [[ $# -lt 2 ]]; then
  echo "usage: $0 <out-dir> <cmd>..." >&2
  exit 2
fi
out=$1
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp="$out/.versions"
log() { echo "kube-bins: $*" >&2; }

# built <cmd>: the binary is there and stamped with this version.
built() {
  [[ -x "$out/$1" && -f "$stamp" ]] && grep -qxF -- "$1=$KUBE_VERSION" <<<"$(tr ' ' '\n' <"$stamp")"
}

# One build at a time per output directory, also across worktrees sharing it.
exec 9>"$out/.lock"
flock 9

todo=()
for cmd in "$@"; do
  built "$cmd" || todo+=("$cmd")
done
if [[ ${#todo[@]} -eq 0 ]]; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
staging=${KUBE_VERSION/v1./v0.}
ver=k8s.io/component-base/version
minor=$(echo "$KUBE_VERSION" | cut -d. -f2)

# k8s.io/kubernetes replaces its staging modules with local paths, so a
# wrapper module has to pin each of them to the published version.
cd "$work"
go mod init kubebins.local/wrapper >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
  echo "replace $mod => $mod $staging" >>go.mod
done

for cmd in "${todo[@]}"; do
  log "building $cmd $KUBE_VERSION (takes several minutes on a cold cache)"
  start=$SECONDS
  go get "k8s.io/kubernetes/cmd/$cmd@$KUBE_VERSION" >&2
  CGO_ENABLED=0 go build -trimpath -o "$work/$cmd.bin" \
    -ldflags "-s -w -X $ver.gitVersion=$KUBE_VERSION -X $ver.gitMajor=1 -X $ver.gitMinor=$minor" \
    "k8s.io/kubernetes/cmd/$cmd" >&2
  mv -f "$work/$cmd.bin" "$out/$cmd"
  words=$( { [[ -f "$stamp" ]] && tr ' ' '\n' <"$stamp" | grep -v -- "^$cmd=" || true; echo "$cmd=$KUBE_VERSION"; } | grep . | tr '\n' ' ')
  echo "${words% }" >"$stamp"
  log "built $out/$cmd in $((SECONDS - start)) s"
done
