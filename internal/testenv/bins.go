package testenv

// This file finds the kube-apiserver and etcd that hack/envtest-bins.sh
// builds, so that the tests, the benchmarks and the local setup use the same
// binaries.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Env is the variable envtest reads the binaries' directory from.
const Env = "KUBEBUILDER_ASSETS"

// Require makes sure KUBEBUILDER_ASSETS points at a directory with
// kube-apiserver and etcd. When it is unset, it uses bin/envtest of the
// repository if the binaries are there.
func Require() error {
	dir := os.Getenv(Env)
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return err
		}
		dir = filepath.Join(root, "bin", "envtest")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return fmt.Errorf("%s not found in %s: build the envtest binaries with hack/envtest-bins.sh (or run make test)", bin, dir)
		}
	}
	return os.Setenv(Env, dir)
}

// Build runs hack/envtest-bins.sh, which builds the binaries once and then
// only prints their directory; its progress goes to stderr.
func Build(ctx context.Context) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "envtest-bins.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the envtest binaries: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	return dir, os.Setenv(Env, dir)
}

// RepoRoot is the nearest directory above the working directory with go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the repository: no go.mod above the working directory")
		}
		dir = parent
	}
}
