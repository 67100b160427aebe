package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// directives splits a Content-Security-Policy into its directives.
func directives(policy string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		out[name] = value
	}
	return out
}

func TestPageAndAssetsCarryTheContentSecurityPolicy(t *testing.T) {
	public := func(cfg *config.Config, _ *room.Config, _ *Options) {
		cfg.PublicURL = &url.URL{Scheme: "https", Host: "rooms.example", Path: "/r/abc/"}
	}
	tests := []struct {
		name    string
		setups  []setup
		connect func(h *harness) string
	}{
		{"stand-alone", nil, func(h *harness) string { return "'self' ws://" + h.hostOf() }},
		{"behind the front door", []setup{public}, func(*harness) string { return "'self' wss://rooms.example" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.setups...)
			for _, path := range []string{"/", "/app.js", "/style.css", "/protocol.js"} {
				resp, err := http.Get(h.srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
				got := directives(resp.Header.Get("Content-Security-Policy"))
				want := map[string]string{
					"default-src":     "'self'",
					"script-src":      "'self'",
					"style-src":       "'self'",
					"img-src":         "'self'",
					"connect-src":     tt.connect(h),
					"object-src":      "'none'",
					"base-uri":        "'none'",
					"form-action":     "'none'",
					"frame-ancestors": "'none'",
				}
				for name, value := range want {
					if got[name] != value {
						t.Errorf("GET %s: %s = %q, want %q", path, name, got[name], value)
					}
				}
				if len(got) != len(want) {
					t.Errorf("GET %s: policy %q has directives beyond %v", path, resp.Header.Get("Content-Security-Policy"), want)
				}
			}
		})
	}
}

func TestPolicyNamesNoHostThatCouldEndADirective(t *testing.T) {
	tests := []struct {
		host, connect string
	}{
		{"room.example:8080", "'self' ws://room.example:8080"},
		{"[::1]:8080", "'self' ws://[::1]:8080"},
		{"evil.example; script-src *", "'self'"},
		{"evil.example *", "'self'"},
		{"", "'self'"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = tt.host
		got := directives(contentSecurityPolicy(nil, r))
		if got["connect-src"] != tt.connect || got["script-src"] != "'self'" {
			t.Errorf("host %q: connect-src %q script-src %q", tt.host, got["connect-src"], got["script-src"])
		}
	}
}
