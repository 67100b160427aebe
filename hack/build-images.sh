#!/usr/bin/env bash
# Builds the images without a Docker daemon: the four binaries and the pause
# process, statically linked, stamped with internal/version/VERSION and the
# commit, for every platform; then packs each onto an empty base with
# hack/images into an OCI image tarball that `ctr -n k8s.io images import
# --all-platforms` names ghcr.io/sprechzimmer/<name>:<VERSION>.
#
#   hack/build-images.sh                      # bin/build/<os>_<arch>/, bin/images/<name>.tar
#   PLATFORMS=linux/amd64 hack/build-images.sh
#   OUT=/tmp/x BUILD=/tmp/b hack/build-images.sh
#   VERSION=v0.2.0 hack/build-images.sh      # tag and stamp another version (make release)
#
# Same source, same toolchain, same digests: timestamps are the commit's
# time (SOURCE_DATE_EPOCH), paths are trimmed, build IDs blank. It prints
# "<name> <reference> <index digest>" per image and writes those lines to
# $OUT/digests.txt.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64}
REPOSITORY=${REPOSITORY:-ghcr.io/sprechzimmer}
BUILD=${BUILD:-$root/bin/build}
OUT=${OUT:-$root/bin/images}
# VERSION: the tag and the binaries' version; default internal/version/VERSION
# (make release VERSION=vX.Y.Z sets another and stamps it into the binaries).
file_version=$(tr -d '[:space:]' < internal/version/VERSION)
VERSION=${VERSION:-$file_version}
stamp=
[[ "$VERSION" == "$file_version" ]] || stamp=" -X github.com/sprechzimmer/sprechzimmer/internal/version.stamped=$VERSION"
if commit=$(git rev-parse HEAD 2>/dev/null); then
  git diff --quiet HEAD -- || commit="$commit-dirty"
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
else
  commit=unknown
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
fi
export SOURCE_DATE_EPOCH

# Each image: its name (also the binary and the entrypoint /<name>) and its package.
images=(
  "manager ./cmd/manager"
  "signaling ./cmd/signaling"
  "frontdoor ./cmd/frontdoor"
  "turn ./cmd/turn"
  "pause ./hack/pause"
)
log() { echo "build-images: $*" >&2; }

packages=()
for image in "${images[@]}"; do
  read -r _ pkg <<<"$image"
  packages+=("$pkg")
done
for platform in $PLATFORMS; do
  dir="$BUILD/${platform//\//_}"
  mkdir -p "$dir"
  log "building ${#packages[@]} binaries for $platform ($VERSION, commit $commit)"
  CGO_ENABLED=0 GOOS=${platform%%/*} GOARCH=${platform#*/} go build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= -X github.com/sprechzimmer/sprechzimmer/internal/version.commit=$commit$stamp" \
    -o "$dir/" "${packages[@]}"
done

mkdir -p "$OUT"
packer="$BUILD/images-packer"
go build -o "$packer" ./hack/images
: > "$OUT/digests.txt.tmp"
for image in "${images[@]}"; do
  read -r name _ <<<"$image"
  bins=()
  for platform in $PLATFORMS; do
    bins+=(-bin "$platform=$BUILD/${platform//\//_}/$name")
  done
  ref="$REPOSITORY/$name:$VERSION"
  read -r _ _ digest < <("$packer" -ref "$ref" "${bins[@]}" -entrypoint "/$name" -o "$OUT/$name.tar")
  echo "$name $ref $digest" | tee -a "$OUT/digests.txt.tmp"
done
mv "$OUT/digests.txt.tmp" "$OUT/digests.txt"
