#!/usr/bin/env bash
# Builds a release into dist/ (docs/release.md): the five images tagged and
# stamped with VERSION for linux/amd64 and linux/arm64 (hack/build-images.sh,
# OCI tarballs), install.yaml (the kustomize build of
# config/overlays/all-in-one with that version's images), the Helm chart
# package (version VERSION without the v, appVersion VERSION) and an SPDX
# 2.3 SBOM per image (hack/sbom, from the binary's Go build info).
#
#   VERSION=v0.2.0 hack/release.sh           # make release VERSION=v0.2.0
#   VERSION=v0.0.0-ci DIST=/tmp/d PLATFORMS=linux/amd64 hack/release.sh
#
# It then checks what it made (hack/releasecheck) and prints the files
# with their sizes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

VERSION=${VERSION:?set VERSION=vX.Y.Z}
[[ "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "release: VERSION $VERSION is not vX.Y.Z[-pre]" >&2; exit 1; }
DIST=${DIST:-$root/dist}
REPOSITORY=${REPOSITORY:-ghcr.io/sprechzimmer}
KUBECTL=${KUBECTL:-$root/bin/kube/kubectl}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
log() { echo "release: $*" >&2; }

rm -rf "$DIST"
mkdir -p "$DIST/images" "$DIST/sbom"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "images $VERSION"
VERSION=$VERSION OUT="$DIST/images" BUILD="$work/build" REPOSITORY=$REPOSITORY hack/build-images.sh >/dev/null

log "SBOMs"
go build -o "$work/sbom" ./hack/sbom
first_platform=$(ls "$work/build" | grep -v images-packer | head -1)
while read -r name ref digest; do
  "$work/sbom" -image "$ref" -digest "$digest" -bin "$work/build/$first_platform/$name" -o "$DIST/sbom/$name.spdx.json"
done <"$DIST/images/digests.txt"

log "install.yaml"
file_version=$(tr -d '[:space:]' < internal/version/VERSION)
{
  echo "# Sprechzimmer $VERSION: kubectl apply --server-side -f install.yaml (docs/install.md)"
  "$KUBECTL" kustomize config/overlays/all-in-one |
    sed -E "s#ghcr\.io/sprechzimmer/(manager|signaling|frontdoor|turn|pause):$file_version#$REPOSITORY/\1:$VERSION#g"
} >"$DIST/install.yaml"

log "Helm chart"
helm=$(hack/helm.sh)
cp -r charts/sprechzimmer "$work/chart"
"$helm" lint --strict "$work/chart" >/dev/null
"$helm" package "$work/chart" --version "${VERSION#v}" --app-version "$VERSION" -d "$DIST" >/dev/null

(cd "$DIST" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum >SHA256SUMS)
go run ./hack/releasecheck -version "$VERSION" -dist "$DIST" -repository "$REPOSITORY"
(cd "$DIST" && find . -type f | sort | xargs du -b | awk '{printf "%10d  %s\n", $1, $2}')
