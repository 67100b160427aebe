// Package testroom starts a signaling server for one room with two fresh
// join tokens, for tests and benchmarks. The room is configured the way the
// operator configures a room's Pod, through the environment variables of
// signaling/config (Tokens.Env); Start runs the server in-process on an
// httptest server, and a benchmark runs the cmd/signaling binary with the
// same environment.
package testroom

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
	"github.com/sprechzimmer/sprechzimmer/signaling/server"
)

// Tokens are a room's two join tokens, the secrets in the people's links.
type Tokens struct {
	// Therapist is the therapist's join token.
	Therapist string
	// Client is the client's join token.
	Client string
}

// NewTokens makes two fresh join tokens.
func NewTokens() (Tokens, error) {
	therapist, err := jointoken.New()
	if err != nil {
		return Tokens{}, fmt.Errorf("therapist token: %w", err)
	}
	client, err := jointoken.New()
	if err != nil {
		return Tokens{}, fmt.Errorf("client token: %w", err)
	}
	return Tokens{Therapist: therapist, Client: client}, nil
}

// Env is the environment of a room with these tokens that expires at
// expires, as the operator gives it to the room's Pod: the tokens' hashes,
// never the tokens. Callers add the other config.Env* variables they need.
func (t Tokens) Env(expires time.Time) map[string]string {
	return map[string]string{
		config.EnvTherapistTokenHash: jointoken.Of(t.Therapist).String(),
		config.EnvClientTokenHash:    jointoken.Of(t.Client).String(),
		config.EnvExpiresAt:          expires.UTC().Format(time.RFC3339Nano),
	}
}

// Options tune Start; the zero value is a German room that expires in an
// hour and admits the client at once, with no ICE servers and no log.
type Options struct {
	// Configure changes the room's configuration (language, expiry, ICE
	// servers) after it was loaded from Tokens.Env and before the server
	// starts.
	Configure func(*config.Config)
	// Prefix serves the room under this path (like the front door's
	// /r/<room-id>); empty serves it at the root.
	Prefix string
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Listen is the address the server listens on; a free port on
	// 127.0.0.1 if empty.
	Listen string
	// TLS, when set, serves the room over HTTPS with this configuration
	// (its certificates), as the front door does.
	TLS *tls.Config
}

// Room is a running signaling server for one room.
type Room struct {
	Tokens
	// URL is the room page, without a fragment, ending in a slash.
	URL string
	// WSURL is the room's WebSocket.
	WSURL string
	// Room is the room behind the server.
	Room *room.Room
}

// Link returns the join link for token, as a person receives it.
func (r *Room) Link(token string) string { return r.URL + "#t=" + token }

// Start runs a signaling server for a room with fresh tokens on
// 127.0.0.1 (or opts.Listen) until the test ends.
func Start(tb testing.TB, opts Options) *Room {
	tb.Helper()
	tokens, err := NewTokens()
	if err != nil {
		tb.Fatal(err)
	}
	env := tokens.Env(time.Now().Add(time.Hour))
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	// Tests of calls and seats go without the admission step; Configure
	// sets config.AdmissionTherapist for the waiting room.
	cfg.Admission = config.AdmissionAutomatic
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rm := room.New(room.FromConfig(cfg))
	srv, err := server.New(server.Options{Config: cfg, Room: rm, Logger: opts.Logger})
	if err != nil {
		tb.Fatal(err)
	}
	prefix := strings.TrimSuffix(opts.Prefix, "/")
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, srv.Handler()))
	ts := httptest.NewUnstartedServer(mux)
	if opts.Listen != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(tb.Context(), "tcp", opts.Listen)
		if err != nil {
			tb.Fatalf("room listener: %v", err)
		}
		_ = ts.Listener.Close()
		ts.Listener = ln
	}
	if opts.TLS != nil {
		ts.TLS = opts.TLS
		ts.StartTLS()
	} else {
		ts.Start()
	}
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		srv.Close()
		ts.Close()
	})
	base := ts.URL + prefix
	return &Room{
		Tokens: tokens,
		URL:    base + "/",
		WSURL:  "ws" + strings.TrimPrefix(base, "http") + "/ws",
		Room:   rm,
	}
}
