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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
		err = eachDocument(raw, func(doc []byte) error {
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				return err
			}
			o, ok := obj.(client.Object)
			if !ok {
				return fmt.Errorf("%T is not an API object", obj)
			}
			if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
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
	err := eachDocument(raw, func(doc []byte) error {
		obj := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &obj.Object); err != nil {
			return err
		}
		objs = append(objs, obj)
		return nil
	})
	return objs, err
}

// Container is a container of a Deployment, with the Deployment's name
// and the file it is written in.
type Container struct {
	File, Deployment string
	corev1.Container
}

// DeploymentContainers reads the containers of every Deployment in the YAML
// files matching pattern (filepath.Glob), for tests that hold every
// container under config/ to a rule. Documents that are no object (JSON
// patches) are skipped.
func DeploymentContainers(pattern string) ([]Container, error) {
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var containers []Container
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		err = eachDocument(raw, func(doc []byte) error {
			var d appsv1.Deployment
			if utilyaml.Unmarshal(doc, &d) == nil && d.Kind == "Deployment" {
				for _, c := range d.Spec.Template.Spec.Containers {
					containers = append(containers, Container{File: file, Deployment: d.Name, Container: c})
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	return containers, nil
}

// eachDocument calls fn with each non-empty YAML document of raw
// (separated by "---"), until fn returns an error.
func eachDocument(raw []byte, fn func(doc []byte) error) error {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
}
