package e2e

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/echo"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
	"github.com/sprechzimmer/sprechzimmer/signaling/server"
)

// roomPrefix is the path the front door serves a room under; the page must
// work there with relative URLs only.
const roomPrefix = "/r/e2e-room"

// testRoom is a signaling server for one room, served under roomPrefix.
type testRoom struct {
	// URL is the room page, without a fragment.
	URL string
	// Therapist and Client are the join tokens.
	Therapist, Client string
	// Room is the room behind the server.
	Room *room.Room
}

// link returns the join link for token, as a person receives it.
func (r *testRoom) link(token string) string { return r.URL + "#t=" + token }

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
// join tokens and an echo peer restricted to loopback.
func startRoom(t testing.TB, opts roomOptions) *testRoom {
	t.Helper()
	therapist, err := jointoken.New()
	if err != nil {
		t.Fatal(err)
	}
	client, err := jointoken.New()
	if err != nil {
		t.Fatal(err)
	}
	if opts.language == "" {
		opts.language = "de"
	}
	cfg := &config.Config{
		TherapistToken: jointoken.Of(therapist),
		ClientToken:    jointoken.Of(client),
		ExpiresAt:      time.Now().Add(time.Hour),
		ICEServers:     opts.iceServers,
		Language:       opts.language,
		TermsVersion:   config.DefaultTermsVersion,
	}
	if opts.expired {
		cfg.ExpiresAt = time.Now().Add(-time.Minute)
	}
	rm := room.New(room.FromConfig(cfg))
	engine, err := echo.NewEngine(echo.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{
		Config: cfg,
		Room:   rm,
		Echo: func(ice []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (server.EchoPeer, error) {
			p, err := engine.New(ice, onCandidate)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(roomPrefix+"/", http.StripPrefix(roomPrefix, srv.Handler()))
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		srv.Close()
		ts.Close()
	})
	return &testRoom{URL: ts.URL + roomPrefix + "/", Therapist: therapist, Client: client, Room: rm}
}
