package testcluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// Registry is the repository prefix of the project's images.
const Registry = "ghcr.io/sprechzimmer"

// defaultVersion is the image tag when internal/version/VERSION is missing;
// hack/cluster/lib.sh falls back to the same.
const defaultVersion = "v0.1.0"

// Image is the reference of the project's image name (pause, manager,
// signaling, frontdoor, turn) as make images tags it and cluster-up.sh
// imports it: <Registry>/<name>:<version>.
func Image(name string) string {
	version := defaultVersion
	if root, err := testenv.RepoRoot(); err == nil {
		if b, err := os.ReadFile(filepath.Join(root, "internal", "version", "VERSION")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			version = strings.TrimSpace(string(b))
		}
	}
	return Registry + "/" + name + ":" + version
}

// HasImage reports whether the cluster's containerd holds the image (in the
// CRI namespace, where the kubelet finds it).
func HasImage(ctx context.Context, ref string) bool {
	out, err := ctr(ctx, "images", "ls", "-q")
	if err != nil {
		return false
	}
	return slices.Contains(strings.Fields(string(out)), ref)
}
