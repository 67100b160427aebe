package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRoomResources(t *testing.T) {
	tests := []struct {
		name                                       string
		cpuRequest, cpuLimit, memRequest, memLimit string
		wantCPULimit                               string
		wantErr                                    string
	}{
		{"defaults", "10m", "500m", "32Mi", "128Mi", "500m", ""},
		{"a whole core", "10m", "1", "32Mi", "128Mi", "1", ""},
		{"CPU limit below the request", "200m", "100m", "32Mi", "128Mi", "", "cpu limit is below"},
		{"memory limit below the request", "10m", "500m", "256Mi", "128Mi", "", "memory limit is below"},
		{"not a quantity", "10m", "half", "32Mi", "128Mi", "", "--signaling-cpu-limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := roomOptions("https://video.example.test", "img", "", tt.cpuRequest, tt.cpuLimit, tt.memRequest, tt.memLimit, "1", nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := o.SignalingResources.Limits[corev1.ResourceCPU]; got.String() != tt.wantCPULimit {
				t.Errorf("CPU limit %s, want %s", got.String(), tt.wantCPULimit)
			}
		})
	}
}
