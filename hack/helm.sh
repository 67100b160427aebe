#!/usr/bin/env bash
# Builds Helm from the Go module proxy into bin/helm, once (the version
# hack/cert-manager-yaml.sh runs too; never a dependency of the project's
# go.mod). Prints the binary's path; a second run with the same version
# builds nothing.
#
#   hack/helm.sh            # bin/helm
#   HELM_VERSION=v3.22.0 BIN=/tmp/bin hack/helm.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
HELM_VERSION=${HELM_VERSION:-v3.22.0}
BIN=${BIN:-$root/bin}
stamp="$BIN/.helm-version"

if [[ -x "$BIN/helm" && -f "$stamp" && "$(cat "$stamp")" == "$HELM_VERSION" ]]; then
  echo "$BIN/helm"
  exit 0
fi
mkdir -p "$BIN"
echo "helm: building helm.sh/helm/v3 $HELM_VERSION into $BIN" >&2
# Helm's version is stamped by its release build's ldflags; without it,
# `helm version` says v3.x and the default Kubernetes version is old.
GOBIN="$BIN" CGO_ENABLED=0 go install \
  -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
echo "$HELM_VERSION" >"$stamp"
echo "$BIN/helm"
