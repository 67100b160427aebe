package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHoldsNoMedia checks that the room server cannot decrypt media: no
// WebRTC stack (DTLS, SRTP, the pion peer connection) is linked into it.
// The connection test runs inside the browser (web/static/conntest.js).
func TestHoldsNoMedia(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, media := range []string{"github.com/pion/webrtc", "github.com/pion/dtls", "github.com/pion/srtp"} {
			if strings.HasPrefix(pkg, media) {
				t.Errorf("cmd/signaling links %s: a room server must never hold decrypted media", pkg)
			}
		}
	}
}
