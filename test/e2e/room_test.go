package e2e

import (
	"crypto/tls"
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
	// therapistAdmits runs the room as sessions do by default: the client
	// waits until the therapist lets them in. Without it the room admits
	// at once, as the call tests assume.
	therapistAdmits bool
	// expiresIn, if set, is the time from now to the room's expiry.
	expiresIn time.Duration
	// listen is the address the room listens on; a free port on
	// 127.0.0.1 if empty.
	listen string
	// tls serves the room over HTTPS with this configuration.
	tls *tls.Config
}

// startRoom runs the signaling server in-process on 127.0.0.1, with fresh
// join tokens, served under roomPrefix.
func startRoom(t testing.TB, opts roomOptions) *testroom.Room {
	t.Helper()
	return testroom.Start(t, testroom.Options{
		Prefix: roomPrefix,
		Listen: opts.listen,
		TLS:    opts.tls,
		Configure: func(cfg *config.Config) {
			cfg.ICEServers = opts.iceServers
			if opts.language != "" {
				cfg.Language = opts.language
			}
			if opts.therapistAdmits {
				cfg.Admission = config.AdmissionTherapist
			}
			if opts.expiresIn != 0 {
				cfg.ExpiresAt = time.Now().Add(opts.expiresIn)
			}
			if opts.expired {
				cfg.ExpiresAt = time.Now().Add(-time.Minute)
			}
		},
	})
}
