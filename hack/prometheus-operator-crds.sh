#!/usr/bin/env bash
# Fetches the Prometheus Operator's CRDs (ServiceMonitor, PodMonitor,
# PrometheusRule) from its Go module, through the Go module proxy, into
# bin/prometheus-operator-crds/, at a pinned version. test/monitoring installs
# them into envtest and validates config/prometheus against them. Does
# nothing when that version is already there.
#
#   hack/prometheus-operator-crds.sh     # fetch if missing, print the directory
set -euo pipefail

VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}
module=github.com/prometheus-operator/prometheus-operator

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/prometheus-operator-crds"
stamp="$out/.version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$VERSION" ]]; then
  echo "$out"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# go mod download needs a module to run in; it changes nothing but the cache.
(cd "$work" && go mod init crds.local >/dev/null 2>&1)
dir=$(cd "$work" && go mod download -json "$module@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z "$dir" ]]; then
  echo "prometheus-operator-crds: go mod download $module@$VERSION gave no directory" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"
for kind in servicemonitors podmonitors prometheusrules; do
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$out/"
done
chmod u+w "$out"/*.yaml
echo "$VERSION" >"$stamp"
echo "$out"
