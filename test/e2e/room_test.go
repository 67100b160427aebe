package e2e

import (
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testroom"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// roomPrefix is the path the front door serves a room under; the page must
// work there with relative URLs only.
const roomPrefix = "/r/e2e-room"

// roomOptions tune startRoom.
type roomOptions struct {
	// language is the room's default language; "de" if empty.
	language string
	// expired makes a room whose expiry time has passed (but which was not
	// closed by Expire).
	expired bool
	// iceServers are handed to the browsers.
	iceServers []protocol.ICEServer
}

// startRoom runs the signaling server in-process on 127.0.0.1, with fresh
// join tokens, served under roomPrefix.
func startRoom(t testing.TB, opts roomOptions) *testroom.Room {
	t.Helper()
	return testroom.Start(t, testroom.Options{
		Prefix: roomPrefix,
		Configure: func(cfg *config.Config) {
			cfg.ICEServers = opts.iceServers
			if opts.language != "" {
				cfg.Language = opts.language
			}
			if opts.expired {
				cfg.ExpiresAt = time.Now().Add(-time.Minute)
			}
		},
	})
}
