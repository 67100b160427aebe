package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec says what one image is: the same entrypoint, arguments and user on
// every platform, one binary per platform.
type Spec struct {
	// Entrypoint is the absolute path the binary is placed at and run from.
	Entrypoint string
	// Args become the config's Cmd: the entrypoint's default arguments,
	// which a Pod's args replace.
	Args []string
	// User is the config's User, e.g. 65532:65532.
	User string
	// Created is the time written into configs, history and layer
	// entries; a fixed one makes the digest depend on the binaries alone.
	Created time.Time
	// Binaries are the per-platform executables, in index order.
	Binaries []Binary
}

// Binary is one static executable for one platform.
type Binary struct {
	// Platform is where the binary runs; OS and Architecture are required.
	Platform v1.Platform
	// Path is the file on the build machine.
	Path string
}

// Index packs every binary of s into an image on an empty base and returns
// the multi-platform OCI image index over them.
func Index(s Spec) (v1.ImageIndex, error) {
	if !path.IsAbs(s.Entrypoint) || path.Clean(s.Entrypoint) != s.Entrypoint || s.Entrypoint == "/" {
		return nil, fmt.Errorf("entrypoint %q is not a clean absolute file path", s.Entrypoint)
	}
	if len(s.Binaries) == 0 {
		return nil, errors.New("no binary to pack")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]bool{}
	for _, b := range s.Binaries {
		if b.Platform.OS == "" || b.Platform.Architecture == "" {
			return nil, fmt.Errorf("binary %s: platform needs an OS and an architecture", b.Path)
		}
		if seen[b.Platform.String()] {
			return nil, fmt.Errorf("platform %s given twice", b.Platform.String())
		}
		seen[b.Platform.String()] = true
		img, err := image(s, b)
		if err != nil {
			return nil, fmt.Errorf("binary %s: %w", b.Path, err)
		}
		p := b.Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return idx, nil
}

// image is one platform's image: a single layer holding the binary.
func image(s Spec, b Binary) (v1.Image, error) {
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(bin, b.Platform); err != nil {
		return nil, err
	}
	layerTar, err := layerTar(s.Entrypoint, bin, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: s.Created}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "hack/images: " + s.Entrypoint},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS = b.Platform.OS
	cfg.Architecture = b.Platform.Architecture
	cfg.Variant = b.Platform.Variant
	cfg.OSVersion = b.Platform.OSVersion
	cfg.Config = v1.Config{
		Entrypoint: []string{s.Entrypoint},
		Cmd:        s.Args,
		User:       s.User,
		WorkingDir: "/",
	}
	return mutate.ConfigFile(img, cfg)
}

// layerTar is a tar stream with the binary at entrypoint (mode 0755, owned
// by root) and its parent directories, every time set to created.
func layerTar(entrypoint string, bin []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	name := strings.TrimPrefix(entrypoint, "/")
	var dirs []string
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(bin)), ModTime: created, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// elfMachines maps Go architectures to the ELF machine their binaries carry.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkStatic refuses what cannot run on an empty base: a file that is no
// ELF executable for the platform, or one that needs a dynamic loader.
func checkStatic(bin []byte, p v1.Platform) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer func() { _ = f.Close() }()
	if want, ok := elfMachines[p.Architecture]; ok && f.Machine != want {
		return fmt.Errorf("built for %s, not for %s", f.Machine, p.Architecture)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build it with CGO_ENABLED=0)")
		}
	}
	return nil
}
