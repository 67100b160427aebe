package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestGoMemLimitFollowsTheContainerLimit(t *testing.T) {
	tests := []struct {
		name   string
		limits corev1.ResourceList
		want   string
	}{
		{"default 128Mi", DefaultSignalingResources().Limits, "114085045"},
		{"256Mi", corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}, "228170090"},
		{"no memory limit", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, ""},
		{"no limits", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := goMemLimitEnv(corev1.ResourceRequirements{Limits: tt.limits})
			got := ""
			if len(env) == 1 && env[0].Name == "GOMEMLIMIT" {
				got = env[0].Value
			} else if len(env) != 0 {
				t.Fatalf("env %+v", env)
			}
			if got != tt.want {
				t.Fatalf("GOMEMLIMIT %q, want %q", got, tt.want)
			}
		})
	}
}
