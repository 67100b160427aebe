#!/usr/bin/env bash
# Renders cert-manager's install manifest, CRDs included, from the Helm chart
# that ships in its Go module (deploy/charts/cert-manager of the version
# hack/addons/cert-manager/go.mod pins), with Helm run through the Go
# toolchain (never a dependency of the project). The images are the ones
# hack/addon-images.sh packs: $REGISTRY/cert-manager-{controller,webhook,
# cainjector}:<version>. A Namespace labelled to enforce the restricted Pod
# Security profile comes first.
#
#   hack/cert-manager-yaml.sh                  # writes bin/addons/cert-manager.yaml
#   OUT=/tmp/cm.yaml hack/cert-manager-yaml.sh
#   kubectl apply --server-side -f bin/addons/cert-manager.yaml
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
HELM=${HELM:-go run helm.sh/helm/v3/cmd/helm@v3.22.0}
REGISTRY=${REGISTRY:-sprechzimmer.local/addons}
NAMESPACE=${NAMESPACE:-cert-manager}
# Helm built by `go run` believes it talks to Kubernetes v1.20 (its version
# is stamped by ldflags); the chart wants >= 1.22, the cluster runs 1.37.
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
OUT=${OUT:-$root/bin/addons/cert-manager.yaml}
mod="$root/hack/addons/cert-manager"
version=$(sed -nE 's#^(require)?[[:space:]]*github.com/cert-manager/cert-manager (v[^ ]+).*#\2#p' "$mod/go.mod")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir=$(cd "$mod" && go mod download -json "github.com/cert-manager/cert-manager@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$dir/deploy/charts/cert-manager" "$work/chart"
chmod -R u+w "$work/chart"
# The release tool stamps these; the module carries v0.0.0.
sed -i -E "s/^(version|appVersion): .*/\1: $version/" "$work/chart/Chart.yaml"

mkdir -p "$(dirname "$OUT")"
{
  cat <<YAML
# cert-manager $version rendered by hack/cert-manager-yaml.sh from the chart in
# its Go module; images $REGISTRY/cert-manager-*:$version. Generated, not edited.
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
YAML
  # startupapicheck is a post-install Job with an image of its own; the
  # three Deployments turning Ready is the check here.
  $HELM template cert-manager "$work/chart" --namespace "$NAMESPACE" \
    --kube-version "$KUBE_VERSION" \
    --set crds.enabled=true \
    --set imageRegistry="$REGISTRY" --set imageNamespace= \
    --set startupapicheck.enabled=false
} >"$work/out.yaml"
mv "$work/out.yaml" "$OUT"
echo "$OUT"
