package probes_test

import (
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sprechzimmer/sprechzimmer/internal/manifests"
	"github.com/sprechzimmer/sprechzimmer/internal/probes"
)

func TestCheckLiveness(t *testing.T) {
	get := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}
	tests := []struct {
		name  string
		probe *corev1.Probe
		want  string // a part of the error; empty for none
	}{
		{"by the rule", probes.Liveness(get), ""},
		{"no probe", nil, ""},
		{"Kubernetes' defaults", &corev1.Probe{ProbeHandler: get}, "timeoutSeconds is 1"},
		{"patient answers, quick restart", &corev1.Probe{ProbeHandler: get, TimeoutSeconds: 5, PeriodSeconds: 5}, "restarts after 15 s"},
		{"a minute exactly", &corev1.Probe{ProbeHandler: get, TimeoutSeconds: 5, PeriodSeconds: 20}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := probes.CheckLiveness(corev1.Container{Name: "c", LivenessProbe: tt.probe})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// Every Deployment under config/ (operator, front door, TURN server) keeps
// the rule: their restarts drop calls as a room's does.
func TestManifestsKeepTheLivenessRule(t *testing.T) {
	containers, err := manifests.DeploymentContainers(filepath.Join("..", "..", "config", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range containers {
		if c.LivenessProbe != nil {
			checked++
			if err := probes.CheckLiveness(c.Container); err != nil {
				t.Errorf("%s: Deployment %s: %v", c.File, c.Deployment, err)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d liveness probes; want the operator's, the front door's and the TURN server's", checked)
	}
}
