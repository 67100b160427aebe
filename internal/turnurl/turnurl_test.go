package turnurl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/internal/turnurl"
)

func TestTransport(t *testing.T) {
	tests := []struct {
		url     string
		want    string
		wantErr string // "" means no error
	}{
		{url: "turn:turn.example.org:3478?transport=udp", want: turnurl.UDP},
		{url: "turn:turn.example.org", want: turnurl.UDP},
		{url: "turn:203.0.113.10:3478?transport=tcp", want: turnurl.TCP},
		{url: "turn:[2001:db8::1]:3478?transport=tcp", want: turnurl.TCP},
		{url: "turn:[2001:db8::1]", want: turnurl.UDP},
		{url: "turns:turn.example.org:443?transport=tcp", want: turnurl.TLS},
		{url: "turns:turn.example.org", want: turnurl.TLS},
		{url: "turns:turn.example.org:443?transport=udp", wantErr: "TLS on TCP"},
		{url: "stun:turn.example.org:3478", wantErr: "scheme turn or turns"},
		{url: "https://turn.example.org", wantErr: "scheme turn or turns"},
		{url: "turn:turn.example.org:3478?transport=sctp", wantErr: "transport=udp or transport=tcp"},
		{url: "turn:turn.example.org:99999", wantErr: "1-65535"},
		{url: "turn::3478", wantErr: "no host"},
		{url: "turn:", wantErr: "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := turnurl.Transport(tt.url)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Transport() = %v, want %s", err, tt.want)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Transport() = %q, %v; want an error mentioning %q", got, err, tt.wantErr)
			case tt.wantErr == "" && got != tt.want:
				t.Fatalf("Transport() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOrder checks the order a browser gets: UDP, TCP, TLS, and two TURN
// servers' URLs in the order given within each.
func TestOrder(t *testing.T) {
	in := []string{
		"turns:turn.example.org:443?transport=tcp",
		"turn:turn-1.example.org:3478?transport=tcp",
		"turn:turn-1.example.org:3478?transport=udp",
		"turn:turn-2.example.org:3478?transport=tcp",
		"turn:turn-2.example.org:3478?transport=udp",
	}
	want := []string{
		"turn:turn-1.example.org:3478?transport=udp",
		"turn:turn-2.example.org:3478?transport=udp",
		"turn:turn-1.example.org:3478?transport=tcp",
		"turn:turn-2.example.org:3478?transport=tcp",
		"turns:turn.example.org:443?transport=tcp",
	}
	got, err := turnurl.Order(in)
	if err != nil {
		t.Fatalf("Order() = %v", err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Order() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := turnurl.Order(append(in, "turns:x:443?transport=udp")); err == nil {
		t.Fatal("Order() accepted turns: over UDP")
	}
}
