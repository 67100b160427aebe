#!/usr/bin/env bash
# Builds the cluster add-ons from the Go module proxy into bin/addons/,
# statically (CGO_ENABLED=0, -trimpath): CoreDNS and cert-manager's
# controller, webhook and cainjector. Each is built from a build-only Go module
# under hack/addons/ whose go.mod and go.sum pin every version (CoreDNS
# v1.15.0, cert-manager v1.21.2); nothing but Go modules is downloaded. Does
# nothing when the binaries of these sources are already there.
#
#   hack/addon-bins.sh         # build if missing, print the directory
#
# cert-manager's own commands live in modules the proxy does not serve
# (cmd/controller and friends are separate modules named *-binary; the
# proxy answers 404 for them), so hack/addons/cert-manager wires the three commands from the
# library packages of github.com/cert-manager/cert-manager itself; see
# docs/addons.md. Cold (empty Go caches, 2 busy cores): about 15 minutes for
# CoreDNS and 30 for cert-manager; under a minute with a warm build cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/addons"
src="$root/hack/addons"
stamp="$out/.versions"
# modver prints the version a build module's go.mod requires of a module.
modver() { sed -nE "s#^(require)?[[:space:]]*$2 (v[^ ]+).*#\2#p" "$src/$1/go.mod"; }
coredns=$(modver coredns github.com/coredns/coredns)
cm=$(modver cert-manager github.com/cert-manager/cert-manager)
want="coredns=$coredns cert-manager=$cm $(go env GOVERSION) src=$(cd "$src" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
bins=(coredns cert-manager-controller cert-manager-webhook cert-manager-cainjector)

fresh=true
for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || fresh=false; done
if $fresh && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"
log() { echo "addon-bins: $*" >&2; }
build() { # dir, output, ldflags, package
  local start=$SECONDS
  (cd "$1" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -buildid= $3" -o "$out/$2" "$4")
  log "$2: $((SECONDS - start))s, $(du -h "$out/$2" | cut -f1)"
}

log "building CoreDNS $coredns"
build "$src/coredns" coredns "-X github.com/coredns/coredns/coremain.gitTag=$coredns" .

cmutil=github.com/cert-manager/cert-manager/pkg/util
for c in controller webhook cainjector; do
  log "building cert-manager $c $cm"
  build "$src/cert-manager" "cert-manager-$c" "-X $cmutil.AppVersion=$cm -X $cmutil.AppGitCommit=module-proxy" "./$c"
done

echo "$want" >"$stamp"
log "done: $out"
echo "$out"
