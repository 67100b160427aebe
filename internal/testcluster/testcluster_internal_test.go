package testcluster

import (
	"strings"
	"testing"
)

func TestLastLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"fewer lines than n", "a\nb\n", 5, "a; b"},
		{"exactly n", "a\nb\nc", 3, "a; b; c"},
		{"more lines: the last n", "a\nb\nc\nd\n", 2, "c; d"},
		{"empty", "", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lastLines(tt.in, tt.n); got != tt.want {
				t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestImage(t *testing.T) {
	for _, name := range []string{"pause", "turn"} {
		got := Image(name)
		if !strings.HasPrefix(got, Registry+"/"+name+":v") {
			t.Errorf("Image(%q) = %q, want %s/%s:v<version>", name, got, Registry, name)
		}
	}
}

func TestRequirementsName(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		requirement string
		want        string
	}{
		{"binaries", "bin/envtest/etcd missing: run make envtest kube"},
		{"images", "no pause image in bin/images: run make images"},
	}
	for _, tt := range tests {
		t.Run(tt.requirement, func(t *testing.T) {
			for _, r := range requirements {
				if r.name != tt.requirement {
					continue
				}
				if err := r.check(empty); err == nil || err.Error() != tt.want {
					t.Errorf("%s in an empty tree: %v, want %q", tt.requirement, err, tt.want)
				}
				return
			}
			t.Fatalf("no requirement %q", tt.requirement)
		})
	}
}
