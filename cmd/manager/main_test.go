package main

import (
	"os"
	"path/filepath"
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
			o, err := roomOptions("https://video.example.test", "img", tt.cpuRequest, tt.cpuLimit, tt.memRequest, tt.memLimit, "1", nil, nil)
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

func TestWatchTURNSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "operator-test-secret-0123456789"
	tests := []struct {
		name    string
		file    string
		needed  bool
		wantErr string
	}{
		{name: "no TURN URLs, no file", needed: false},
		{name: "TURN URLs without a file", needed: true, wantErr: "--turn-url needs --turn-secret-file"},
		{name: "missing file", file: filepath.Join(dir, "nope"), needed: true, wantErr: "--turn-secret-file"},
		{name: "trailing newline", file: write("nl", secret+"\n"), needed: true, wantErr: "whitespace"},
		{name: "too short", file: write("short", "abc"), needed: true, wantErr: "shorter than 16"},
		{name: "valid", file: write("good", secret), needed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current, err := watchTURNSecret(t.Context(), tt.file, tt.needed)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("watchTURNSecret() = %v, want an error saying %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("watchTURNSecret() = %v", err)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Fatalf("the error shows the secret: %v", err)
			case tt.wantErr == "" && tt.needed && string(current()) != secret:
				t.Fatalf("secret in use has %d bytes, want the file's %d", len(current()), len(secret))
			}
		})
	}
}
