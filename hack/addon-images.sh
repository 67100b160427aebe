#!/usr/bin/env bash
# Packs the add-on binaries of hack/addon-bins.sh into OCI image tarballs in
# bin/images/ with the project's packer (hack/images): one static binary on an
# empty base, user 65532:65532, linux/amd64, timestamps 0 so the same binary
# gives the same digest. `ctr -n k8s.io images import --all-platforms` names
# them $REGISTRY/<name>:<version>:
#
#   coredns                    entrypoint /coredns, default args -conf /etc/coredns/Corefile
#   cert-manager-controller    entrypoint /cert-manager-controller
#   cert-manager-webhook       entrypoint /cert-manager-webhook
#   cert-manager-cainjector    entrypoint /cert-manager-cainjector
#
#   hack/addon-images.sh       # builds the binaries first if missing
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
REGISTRY=${REGISTRY:-sprechzimmer.local/addons}
OUT=${OUT:-$root/bin/images}
PACKER=${PACKER:-go run ./hack/images}
export SOURCE_DATE_EPOCH=0

bins=$(hack/addon-bins.sh)
read -r coredns cm _ < <(sed -E 's/coredns=([^ ]+) cert-manager=([^ ]+).*/\1 \2/' "$bins/.versions")
mkdir -p "$OUT"
pack() { # name, version, extra packer args...
  local name=$1 version=$2
  shift 2
  $PACKER -ref "$REGISTRY/$name:$version" -bin "linux/amd64=$bins/$name" \
    -entrypoint "/$name" -o "$OUT/$name.tar" "$@"
}
pack coredns "$coredns" -arg -conf -arg /etc/coredns/Corefile
for c in controller webhook cainjector; do
  pack "cert-manager-$c" "$cm"
done
