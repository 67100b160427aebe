package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// buildPause builds hack/pause statically for arch and returns the file.
func buildPause(t *testing.T, arch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pause")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", out, "../pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building hack/pause for %s: %v\n%s", arch, err, b)
	}
	return out
}

func TestIndexIsReproducibleAndRunnable(t *testing.T) {
	amd64, arm64 := buildPause(t, "amd64"), buildPause(t, "arm64")
	created := time.Unix(1700000000, 0).UTC()
	spec := Spec{
		Entrypoint: "/usr/bin/pause",
		Args:       []string{"-v"},
		User:       "65532:65532",
		Created:    created,
		Binaries: []Binary{
			{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Path: amd64},
			{Platform: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, Path: arm64},
		},
	}
	var tarballs [2][]byte
	for i := range tarballs {
		idx, err := Index(spec)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteLayout(&buf, idx, "ghcr.io/sprechzimmer/pause:v9", "v9", created); err != nil {
			t.Fatal(err)
		}
		tarballs[i] = buf.Bytes()
	}
	if !bytes.Equal(tarballs[0], tarballs[1]) {
		t.Fatal("the same binaries packed twice gave different tarballs")
	}

	idx, err := Index(spec)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(manifest.Manifests))
	}
	for i, desc := range manifest.Manifests {
		want := spec.Binaries[i].Platform
		if desc.Platform == nil || !desc.Platform.Equals(want) {
			t.Errorf("manifest %d platform %v, want %v", i, desc.Platform, want)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != want.OS || cfg.Architecture != want.Architecture || cfg.Variant != want.Variant {
			t.Errorf("config platform %s/%s/%s, want %v", cfg.OS, cfg.Architecture, cfg.Variant, want)
		}
		if cfg.Config.User != "65532:65532" || strings.Join(cfg.Config.Entrypoint, " ") != "/usr/bin/pause" || strings.Join(cfg.Config.Cmd, " ") != "-v" {
			t.Errorf("config %+v", cfg.Config)
		}
		if !cfg.Created.Equal(created) {
			t.Errorf("created %v, want %v", cfg.Created, created)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("layers %d, %v; want one", len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, h.Name+" "+h.FileInfo().Mode().String())
			if !h.ModTime.Equal(created) || h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s: time %v, owner %d:%d", h.Name, h.ModTime, h.Uid, h.Gid)
			}
		}
		_ = rc.Close()
		if got, want := strings.Join(entries, ", "), "usr/ drwxr-xr-x, usr/bin/ drwxr-xr-x, usr/bin/pause -rwxr-xr-x"; got != want {
			t.Errorf("layer holds %q, want %q", got, want)
		}
	}

	// index.json names the image for ctr images import.
	tr := tar.NewReader(bytes.NewReader(tarballs[0]))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json: %v", err)
		}
		if h.Name != "index.json" {
			continue
		}
		var top v1.IndexManifest
		if err := json.NewDecoder(tr).Decode(&top); err != nil {
			t.Fatal(err)
		}
		digest, _ := idx.Digest()
		if len(top.Manifests) != 1 || top.Manifests[0].Digest != digest ||
			top.Manifests[0].Annotations[annotationContainerdName] != "ghcr.io/sprechzimmer/pause:v9" ||
			top.Manifests[0].Annotations[annotationRefName] != "v9" {
			t.Errorf("index.json %+v", top)
		}
		break
	}
}

func TestIndexRefuses(t *testing.T) {
	amd64 := buildPause(t, "amd64")
	linux := func(arch string) v1.Platform { return v1.Platform{OS: "linux", Architecture: arch} }
	tests := []struct {
		name       string
		entrypoint string
		binaries   []Binary
		wantErr    string
	}{
		{"relative entrypoint", "pause", []Binary{{linux("amd64"), amd64}}, "not a clean absolute"},
		{"directory entrypoint", "/", []Binary{{linux("amd64"), amd64}}, "not a clean absolute"},
		{"no binary", "/pause", nil, "no binary"},
		{"no architecture", "/pause", []Binary{{v1.Platform{OS: "linux"}, amd64}}, "needs an OS and an architecture"},
		{"platform twice", "/pause", []Binary{{linux("amd64"), amd64}, {linux("amd64"), amd64}}, "given twice"},
		{"wrong architecture", "/pause", []Binary{{linux("arm64"), amd64}}, "not for arm64"},
		{"not ELF", "/pause", []Binary{{linux("amd64"), "pack.go"}}, "not an ELF"},
		{"missing file", "/pause", []Binary{{linux("amd64"), "no-such-file"}}, "no such file"},
	}
	if dyn, err := exec.LookPath("true"); err == nil && isDynamic(dyn) {
		tests = append(tests, struct {
			name       string
			entrypoint string
			binaries   []Binary
			wantErr    string
		}{"dynamically linked", "/true", []Binary{{linux("amd64"), dyn}}, "dynamically linked"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Index(Spec{Entrypoint: tt.entrypoint, Binaries: tt.binaries})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// isDynamic says whether file is an amd64 ELF executable with a loader.
func isDynamic(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	err = checkStatic(b, v1.Platform{OS: "linux", Architecture: "amd64"})
	return err != nil && strings.Contains(err.Error(), "dynamically linked")
}
