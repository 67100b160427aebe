package version

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// images are the product's images, each Repository/<name>:Version.
var images = []string{"manager", "signaling", "frontdoor", "turn", "pause"}

// TestConfigImagesFollowVersion fails when an image reference in config/
// (a container's image, the manager's --signaling-image, a kustomize
// images: entry, any ghcr.io/sprechzimmer/ string) is not
// Repository/<name>:Version, e.g. :latest, a bare name or an old tag.
func TestConfigImagesFollowVersion(t *testing.T) {
	root := filepath.Join("..", "..", "config")
	found := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			var obj any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return err
			}
			for _, ref := range imageRefs(obj) {
				rel, _ := filepath.Rel(root, path)
				name, ok := productImage(ref)
				if !ok {
					t.Errorf("config/%s: image %q is not %s/<name>:%s", rel, ref, Repository, Version)
				}
				found[name] = true
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"manager", "signaling", "frontdoor", "turn"} {
		if !found[name] {
			t.Errorf("no reference to the %s image found in config/: did the manifests move?", name)
		}
	}
}

// TestImageReferences checks Image against the pattern and the places
// outside config/ that name the images: the manager's default
// --signaling-image (Image) and the build script's default repository.
func TestImageReferences(t *testing.T) {
	for _, name := range images {
		if got, ok := productImage(Image(name)); !ok || got != name {
			t.Errorf("Image(%q) = %q does not follow the pattern", name, Image(name))
		}
	}
	script, err := os.ReadFile(filepath.Join("..", "..", "hack", "build-images.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "REPOSITORY=${REPOSITORY:-" + Repository + "}"; !strings.Contains(string(script), want) {
		t.Errorf("hack/build-images.sh does not default to %s (want a line with %q)", Repository, want)
	}
	manager, err := os.ReadFile(filepath.Join("..", "..", "cmd", "manager", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"signaling-image", version.Image("signaling")`; !strings.Contains(string(manager), want) {
		t.Errorf("cmd/manager's --signaling-image default is not %s (want %q in main.go)", Image("signaling"), want)
	}
}

// productImage says which product image ref names, if it follows the pattern.
func productImage(ref string) (string, bool) {
	for _, name := range images {
		if ref == Image(name) {
			return name, true
		}
	}
	return "", false
}

var productRef = regexp.MustCompile(`ghcr\.io/sprechzimmer/\S*`)

// imageRefs walks a YAML document for image references.
func imageRefs(v any) []string {
	var refs []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "image" {
				refs = append(refs, s)
				continue
			}
			if k == "images" {
				refs = append(refs, kustomizeImages(x)...)
				continue
			}
			refs = append(refs, imageRefs(x)...)
		}
	case []any:
		for _, x := range v {
			refs = append(refs, imageRefs(x)...)
		}
	case string:
		if s, ok := strings.CutPrefix(v, "--signaling-image="); ok {
			return []string{s}
		}
		return productRef.FindAllString(v, -1)
	}
	return refs
}

// kustomizeImages turns a kustomization's images: entries into the
// references they produce.
func kustomizeImages(v any) []string {
	entries, _ := v.([]any)
	var refs []string
	for _, e := range entries {
		m, _ := e.(map[string]any)
		name, _ := m["newName"].(string)
		if name == "" {
			name, _ = m["name"].(string)
		}
		tag, _ := m["newTag"].(string)
		refs = append(refs, name+":"+tag)
	}
	return slices.Compact(refs)
}
