// Command releasecheck checks a release directory (hack/release.sh) for
// one version: every image reference in install.yaml carries it; each image
// tarball's index is named <repository>/<name>:<version> and holds
// linux/amd64 and linux/arm64, and its amd64 binary prints the version on
// --version (run here, when this host is linux/amd64); the Helm chart
// package has it as version (without the v) and appVersion; each SBOM is
// named <name>-<version> and describes the image at that tag.
//
//	go run ./hack/releasecheck -version v0.0.0-ci -dist dist
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// images are the release's images; pause has no --version.
var images = []string{"manager", "signaling", "frontdoor", "turn", "pause"}

func main() {
	var (
		version    = flag.String("version", "", "The release's version, vX.Y.Z (required).")
		dist       = flag.String("dist", "dist", "The release directory.")
		repository = flag.String("repository", "ghcr.io/sprechzimmer", "Where the images are.")
	)
	flag.Parse()
	errs := Check(*dist, *version, *repository)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "releasecheck:", err)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	fmt.Printf("releasecheck: %s in %s: install.yaml, %d images, chart, %d SBOMs carry the version\n", *version, *dist, len(images), len(images))
}

// Check returns what in dist does not carry version.
func Check(dist, version, repository string) []error {
	if version == "" {
		return []error{errors.New("-version is required")}
	}
	var errs []error
	errs = append(errs, checkInstall(filepath.Join(dist, "install.yaml"), version, repository)...)
	for _, name := range images {
		if err := checkImage(filepath.Join(dist, "images", name+".tar"), name, version, repository); err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", name, err))
		}
		if err := checkSBOM(filepath.Join(dist, "sbom", name+".spdx.json"), name, version, repository); err != nil {
			errs = append(errs, fmt.Errorf("SBOM %s: %w", name, err))
		}
	}
	if err := checkChart(filepath.Join(dist, "sprechzimmer-"+strings.TrimPrefix(version, "v")+".tgz"), version); err != nil {
		errs = append(errs, fmt.Errorf("chart: %w", err))
	}
	return errs
}

var imageRef = regexp.MustCompile(`[a-z0-9.-]+(?:/[a-z0-9._-]+)+:[A-Za-z0-9._-]+`)

func checkInstall(path, version, repository string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{err}
	}
	var errs []error
	seen := map[string]bool{}
	for _, ref := range imageRef.FindAllString(string(data), -1) {
		repo, tag, _ := strings.Cut(ref, ":")
		name := repo[strings.LastIndex(repo, "/")+1:]
		if !slices.Contains(images, name) || !strings.HasPrefix(repo, repository+"/") {
			continue
		}
		seen[name] = true
		if tag != version {
			errs = append(errs, fmt.Errorf("install.yaml names %s, not :%s", ref, version))
		}
	}
	for _, name := range []string{"manager", "signaling", "frontdoor", "turn"} {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("install.yaml names no %s/%s image", repository, name))
		}
	}
	return errs
}

// ociIndex is the part of an OCI index (and manifest) this reads.
type ociIndex struct {
	Manifests []struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
		Platform    *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	} `json:"manifests"`
	Layers []struct {
		Digest string `json:"digest"`
	} `json:"layers"`
}

func checkImage(path, name, version, repository string) error {
	files, err := readTar(path)
	if err != nil {
		return err
	}
	blob := func(digest string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")] }
	var top ociIndex
	if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 {
		return fmt.Errorf("index.json: want one image index (%w)", err)
	}
	ann := top.Manifests[0].Annotations
	if want := repository + "/" + name + ":" + version; ann["io.containerd.image.name"] != want || ann["org.opencontainers.image.ref.name"] != version {
		return fmt.Errorf("named %q (ref %q), want %s", ann["io.containerd.image.name"], ann["org.opencontainers.image.ref.name"], want)
	}
	var idx ociIndex
	if err := json.Unmarshal(blob(top.Manifests[0].Digest), &idx); err != nil {
		return err
	}
	platforms := map[string]string{}
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			platforms[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest
		}
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if platforms[p] == "" {
			return fmt.Errorf("no %s image in the index", p)
		}
	}
	if name == "pause" || runtime.GOOS+"/"+runtime.GOARCH != "linux/amd64" {
		return nil
	}
	var manifest ociIndex
	if err := json.Unmarshal(blob(platforms["linux/amd64"]), &manifest); err != nil || len(manifest.Layers) != 1 {
		return fmt.Errorf("linux/amd64 manifest: want one layer (%w)", err)
	}
	binary, err := fileInLayer(blob(manifest.Layers[0].Digest), name)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "releasecheck-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	exe := filepath.Join(dir, name)
	// An executable for its owner only, in a directory of our own.
	if err := os.WriteFile(exe, binary, 0o700); err != nil { //nolint:gosec // G306: it must be executable to run --version
		return err
	}
	out, err := exec.CommandContext(context.Background(), exe, "--version").Output()
	if err != nil {
		return fmt.Errorf("/%s --version: %w", name, err)
	}
	if !strings.HasPrefix(string(out), name+" "+version+" ") {
		return fmt.Errorf("/%s --version prints %q, want %s %s", name, strings.TrimSpace(string(out)), name, version)
	}
	return nil
}

// readTar reads every regular file of a tarball into memory.
func readTar(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return readTarFrom(f)
}

func readTarFrom(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[strings.TrimPrefix(h.Name, "./")] = data
	}
}

// fileInLayer returns /<name> from a gzip'd (or plain) layer tarball.
func fileInLayer(layer []byte, name string) ([]byte, error) {
	var r io.Reader = bytes.NewReader(layer)
	if gz, err := gzip.NewReader(bytes.NewReader(layer)); err == nil {
		r = gz
	}
	files, err := readTarFrom(r)
	if err != nil {
		return nil, err
	}
	for path, data := range files {
		if strings.TrimPrefix(path, "/") == name {
			return data, nil
		}
	}
	return nil, fmt.Errorf("no /%s in the layer", name)
}

func checkChart(path, version string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	files, err := readTarFrom(gz)
	if err != nil {
		return err
	}
	var chart struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(files["sprechzimmer/Chart.yaml"], &chart); err != nil {
		return err
	}
	if chart.Version != strings.TrimPrefix(version, "v") || chart.AppVersion != version {
		return fmt.Errorf("the package's Chart.yaml has version %q, appVersion %q; want %s, %s", chart.Version, chart.AppVersion, strings.TrimPrefix(version, "v"), version)
	}
	for _, want := range []string{"sprechzimmer/values.schema.json", "sprechzimmer/crds/videosessions.video.sprechzimmer.dev.yaml"} {
		if _, ok := files[want]; !ok {
			return fmt.Errorf("the package lacks %s", want)
		}
	}
	return nil
}

func checkSBOM(path, name, version, repository string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Name        string `json:"name"`
		Packages    []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.Name != name+"-"+version {
		return fmt.Errorf("%s named %q, want SPDX-2.3 named %s-%s", doc.SPDXVersion, doc.Name, name, version)
	}
	if len(doc.Packages) < 3 || doc.Packages[0].VersionInfo != version || len(doc.Packages[0].ExternalRefs) != 1 ||
		!strings.Contains(doc.Packages[0].ExternalRefs[0].Locator, "repository_url="+repository+"/"+name+"&tag="+version) {
		return fmt.Errorf("the image package is not %s/%s at %s, or no modules are listed", repository, name, version)
	}
	return nil
}
