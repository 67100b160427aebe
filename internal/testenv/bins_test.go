package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControllerManagerLookup(t *testing.T) {
	named := filepath.Join(t.TempDir(), "my-kcm")
	assets := t.TempDir()
	nextToAssets := filepath.Join(assets, "kube-controller-manager")
	for _, f := range []string{named, nextToAssets} {
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, env, assets string
		want, wantErr     string
	}{
		{name: "the file the variable names", env: named, assets: assets, want: named},
		{name: "a variable naming no file", env: named + "-missing", assets: assets, wantErr: ControllerManagerEnv},
		{name: "next to envtest's binaries", assets: assets, want: nextToAssets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(ControllerManagerEnv, tt.env)
			t.Setenv(Env, tt.assets)
			got, err := ControllerManager()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ControllerManager() = %q, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ControllerManager() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
