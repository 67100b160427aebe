package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sprechzimmer/sprechzimmer/internal/turnurl"
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

// TestTURNURLOrder checks what a room's browsers get from --turn-url: the
// URLs in the order to try them (UDP, TCP, TLS), and a clear refusal of a
// URL no browser can use.
func TestTURNURLOrder(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("0123456789abcdef0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	room := func(urls ...string) ([]string, error) {
		o, err := roomOptions("https://video.example.test", "img", secretFile, "10m", "500m", "32Mi", "128Mi", "1", urls, nil)
		if err != nil {
			return nil, err
		}
		return o.TURNURLs, nil
	}
	got, err := room("turns:turn.example.test:443?transport=tcp", "turn:turn.example.test:3478?transport=tcp", "turn:turn.example.test:3478?transport=udp")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"turn:turn.example.test:3478?transport=udp", "turn:turn.example.test:3478?transport=tcp", "turns:turn.example.test:443?transport=tcp"}
	if !slices.Equal(got, want) {
		t.Errorf("TURN URLs %v, want %v", got, want)
	}
	if _, err := room("turns:turn.example.test:443?transport=udp"); err == nil || !strings.Contains(err.Error(), "--turn-url") {
		t.Errorf("turns: over UDP: err = %v, want an error naming --turn-url", err)
	}
}

// TestShippedTURNURLs reads the --turn-url flags of config/manager, which
// the chart's defaults repeat: each room gets both TURN replicas over UDP
// and TCP, and TURN over TLS on port 443 last, for networks that let only
// HTTPS through.
func TestShippedTURNURLs(t *testing.T) {
	manifest, err := os.ReadFile(filepath.Join("..", "..", "config", "manager", "manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for line := range strings.SplitSeq(string(manifest), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "- --turn-url="); ok {
			urls = append(urls, u)
		}
	}
	ordered, err := turnurl.Order(urls)
	if err != nil {
		t.Fatalf("config/manager's --turn-url: %v", err)
	}
	if !slices.Equal(ordered, urls) {
		t.Errorf("config/manager lists the TURN URLs as\n%v\nnot in the order rooms get them\n%v", urls, ordered)
	}
	hosts := map[string]bool{}
	for _, u := range urls {
		if tr, _ := turnurl.Transport(u); tr == turnurl.UDP {
			hosts[strings.SplitN(strings.TrimPrefix(u, "turn:"), ":", 2)[0]] = true
		}
	}
	if len(hosts) < 2 {
		t.Errorf("config/manager hands out UDP URLs of %d TURN hosts, want both replicas'", len(hosts))
	}
	if last := urls[len(urls)-1]; !strings.HasPrefix(last, "turns:") || !strings.Contains(last, ":443?") {
		t.Errorf("the last TURN URL is %q, want turns:<host>:443?transport=tcp", last)
	}
}
