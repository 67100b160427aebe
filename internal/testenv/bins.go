package testenv

// This file finds the kube-apiserver and etcd that hack/envtest-bins.sh
// builds, and the kube-controller-manager that hack/kube-bins.sh builds, so
// that the tests, the benchmarks and the local setup use the same binaries.

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

// ControllerManagerEnv names a kube-controller-manager binary, as envtest's
// TEST_ASSET_KUBE_APISERVER names a kube-apiserver.
const ControllerManagerEnv = "TEST_ASSET_KUBE_CONTROLLER_MANAGER"

// BuildControllerManagerCommand is what builds kube-controller-manager into
// bin/kube of the repository (once; make run and make test run it).
const BuildControllerManagerCommand = "hack/kube-bins.sh bin/kube kube-controller-manager"

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

// ControllerManager finds kube-controller-manager: the file that
// TEST_ASSET_KUBE_CONTROLLER_MANAGER names, else the one next to envtest's
// binaries (KUBEBUILDER_ASSETS), else bin/kube of the repository. Its error
// says how to build it.
func ControllerManager() (string, error) {
	if path := os.Getenv(ControllerManagerEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w", ControllerManagerEnv, path, err)
		}
		return path, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var tried []string
	for _, dir := range []string{os.Getenv(Env), filepath.Join(root, "bin", "kube")} {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, "kube-controller-manager")
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("kube-controller-manager not found in %s: build it with %s (or make run / make test), or name it in %s",
		strings.Join(tried, " or "), BuildControllerManagerCommand, ControllerManagerEnv)
}

// BuildControllerManager finds kube-controller-manager and, when it is
// missing, builds it with hack/kube-bins.sh (once, several minutes); its
// progress goes to stderr.
func BuildControllerManager(ctx context.Context) (string, error) {
	if path, err := ControllerManager(); err == nil {
		return path, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	args := strings.Fields(BuildControllerManagerCommand)
	cmd := exec.CommandContext(ctx, filepath.Join(root, args[0]), args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building kube-controller-manager with %s: %w", BuildControllerManagerCommand, err)
	}
	return ControllerManager()
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

// BuildKubectlCommand is what builds kubectl into bin/kube of the
// repository (once; make kube and make test run it).
const BuildKubectlCommand = "hack/kube-bins.sh bin/kube kubectl"

// Kubectl finds bin/kube/kubectl of the repository; its error says how to
// build it. Tests render config/ with its kustomize (kubectl kustomize),
// the one a platform team applies with.
func Kubectl() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "bin", "kube", "kubectl")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("kubectl not found in %s: build it with %s (or make kube / make test)", filepath.Dir(path), BuildKubectlCommand)
	}
	return path, nil
}
