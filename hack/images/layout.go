package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations naming the image in index.json: containerd's `ctr images
// import` takes the full reference from the first, other OCI tools the tag
// from the second.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// WriteLayout writes idx as an OCI image layout in a tar stream (oci-layout,
// index.json naming ref, blobs/sha256/...), every entry dated created, blobs
// in a fixed order: the same index gives the same bytes.
func WriteLayout(w io.Writer, idx v1.ImageIndex, ref, tag string, created time.Time) error {
	tw := tar.NewWriter(w)
	written := map[v1.Hash]bool{}
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	blob := func(h v1.Hash, data []byte) error {
		if written[h] {
			return nil
		}
		written[h] = true
		return file("blobs/"+h.Algorithm+"/"+h.Hex, data)
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range manifest.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		if err := imageBlobs(img, blob); err != nil {
			return fmt.Errorf("image %s: %w", desc.Digest, err)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		return err
	}
	if err := blob(desc.Digest, raw); err != nil {
		return err
	}
	desc.Annotations = map[string]string{annotationContainerdName: ref, annotationRefName: tag}
	top, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{*desc}})
	if err != nil {
		return err
	}
	if err := file("index.json", top); err != nil {
		return err
	}
	return tw.Close()
}

// imageBlobs hands blob the layers, the config and the manifest of img.
func imageBlobs(img v1.Image, blob func(v1.Hash, []byte) error) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := blob(h, data); err != nil {
			return err
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := blob(cfgName, cfg); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	return blob(digest, raw)
}
