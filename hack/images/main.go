// Command images packs static binaries onto an empty base as a
// multi-platform OCI image and writes it as an OCI image layout tarball,
// which `ctr -n k8s.io images import --all-platforms` imports under the
// given reference. No Docker daemon, no registry, no base image: the layer
// holds the binary and nothing else (no shell, no libc, no CA bundle).
//
// Usage:
//
//	go run ./hack/images -ref ghcr.io/sprechzimmer/manager:v0.1.0 \
//	    -bin linux/amd64=bin/build/linux_amd64/manager \
//	    -bin linux/arm64=bin/build/linux_arm64/manager \
//	    -entrypoint /manager -o bin/images/manager.tar
//
// Flags:
//
//	-ref         the image reference, with an explicit tag (required)
//	-bin         platform=file, repeatable, one per platform (at least one);
//	             the file must be a statically linked ELF executable of that
//	             architecture
//	-entrypoint  absolute path the binary is placed at and run from (required)
//	-arg         default argument (the config's Cmd, which a Pod's args
//	             replace), repeatable
//	-user        the config's User (default 65532:65532, non-root)
//	-epoch       seconds since 1970 written as every timestamp (default
//	             $SOURCE_DATE_EPOCH, else 0), so the same binaries give the
//	             same digest
//	-o           output tarball (required)
//
// It prints the reference and the index digest, the one `ctr images ls`
// shows after the import.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var (
		spec      = Spec{User: "65532:65532"}
		ref, out  string
		epoch     int64
		epochFlag = os.Getenv("SOURCE_DATE_EPOCH")
	)
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.StringVar(&ref, "ref", "", "image reference with an explicit tag, e.g. ghcr.io/sprechzimmer/manager:v0.1.0 (required)")
	fs.Func("bin", "platform=file, e.g. linux/amd64=bin/build/linux_amd64/manager (repeatable, one per platform)", func(v string) error {
		b, err := parseBinary(v)
		if err != nil {
			return err
		}
		spec.Binaries = append(spec.Binaries, b)
		return nil
	})
	fs.StringVar(&spec.Entrypoint, "entrypoint", "", "absolute path the binary is placed at and run from, e.g. /manager (required)")
	fs.Func("arg", "default argument of the entrypoint (the config's Cmd; repeatable)", func(v string) error {
		spec.Args = append(spec.Args, v)
		return nil
	})
	fs.StringVar(&spec.User, "user", spec.User, "user:group the image runs as")
	fs.StringVar(&epochFlag, "epoch", epochFlag, "timestamp of every entry in seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	fs.StringVar(&out, "o", "", "output tarball (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if ref == "" || out == "" || spec.Entrypoint == "" {
		return errors.New("-ref, -entrypoint and -o are required")
	}
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("-ref: %w", err)
	}
	if epochFlag != "" {
		if epoch, err = strconv.ParseInt(epochFlag, 10, 64); err != nil || epoch < 0 {
			return fmt.Errorf("-epoch (or SOURCE_DATE_EPOCH) %q is not a non-negative integer", epochFlag)
		}
	}
	spec.Created = time.Unix(epoch, 0).UTC()
	idx, err := Index(spec)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if err := writeFile(out, func(f *os.File) error {
		return WriteLayout(f, idx, tag.Name(), tag.TagStr(), spec.Created)
	}); err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", out, tag.Name(), digest)
	return nil
}

// parseBinary reads one -bin value: platform=file.
func parseBinary(v string) (Binary, error) {
	platform, file, ok := strings.Cut(v, "=")
	if !ok || file == "" {
		return Binary{}, fmt.Errorf("%q is not platform=file", v)
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return Binary{}, err
	}
	return Binary{Platform: *p, Path: file}, nil
}

// writeFile writes through a temporary file in the same directory and
// renames it into place, so a reader never sees half a tarball.
func writeFile(path string, write func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // G301: an output directory like bin/images, shared with whoever imports the images
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil { //nolint:gosec // G302: an image tarball is public, readable like any build output
		return err
	}
	return os.Rename(f.Name(), path)
}
