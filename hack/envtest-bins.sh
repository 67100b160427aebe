#!/usr/bin/env bash
# Builds envtest's control plane (kube-apiserver and etcd) from the Go module
# proxy into bin/envtest/, at pinned versions. Nothing is downloaded but Go
# modules. Does nothing when both binaries of these versions are already there.
#
#   hack/envtest-bins.sh            # build if missing, print the directory
#   KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh) go test ./...
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}   # the minor controller-runtime v0.25 targets
ETCD_VERSION=${ETCD_VERSION:-v3.6.6}    # the etcd release Kubernetes 1.37 ships with

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/envtest"
stamp="$out/.versions"
want="kube-apiserver=$KUBE_VERSION etcd=$ETCD_VERSION"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"
log() { echo "envtest-bins: $*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# kube-apiserver: built like the node's commands (hack/kube-bins.sh).
log "building kube-apiserver $KUBE_VERSION (takes several minutes on a cold cache)"
KUBE_VERSION=$KUBE_VERSION "$root/hack/kube-bins.sh" "$out" kube-apiserver

log "building etcd $ETCD_VERSION"
mkdir -p "$work/etcd"
(
  cd "$work/etcd"
  go mod init envtest.local/etcd >/dev/null 2>&1
  cat >main.go <<'GO'
// Command etcd is etcd's server, built from its module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go mod tidy >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" . >&2
)

echo "$want" >"$stamp"
log "done: $out"
echo "$out"
