// Package manifests creates the objects of YAML manifests from config/ on an
// API server where no kubectl runs: the tests' envtest and the local setup
// install the room policy (config/policy) this way, from the same file a
// cluster gets through kustomize. Kustomize renders a kustomization with
// kubectl's kustomize, for tests that check what an overlay installs.
package manifests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RoomPolicy is the room policy's file, relative to the repository's root.
var RoomPolicy = filepath.Join("config", "policy", "room_status_policy.yaml")

// Create creates every object in the YAML files (documents separated by
// "---"); objects that exist already are left as they are. Each object's
// kind must be in c's scheme.
func Create(ctx context.Context, c client.Client, files ...string) error {
	decoder := serializer.NewCodecFactory(c.Scheme()).UniversalDeserializer()
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			o, ok := obj.(client.Object)
			if !ok {
				return fmt.Errorf("%s: %T is not an API object", file, obj)
			}
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: creating %T %s: %w", file, o, o.GetName(), err)
			}
		}
	}
	return nil
}

// Kustomize renders the kustomization in dir with `kubectl kustomize` (the
// kubectl binary at kubectl) and returns its objects in the order rendered.
func Kustomize(ctx context.Context, kubectl, dir string) ([]*unstructured.Unstructured, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return Decode(out)
}

// Decode splits YAML documents (separated by "---") into objects; empty
// documents are skipped.
func Decode(raw []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &obj.Object); err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
}
