package testroom

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
)

func TestStart(t *testing.T) {
	tests := []struct {
		name, prefix, wantPath string
	}{
		{"at the root", "", "/"},
		{"under a prefix", "/r/some-room", "/r/some-room/"},
		{"under a prefix with a slash", "/r/some-room/", "/r/some-room/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var loaded config.Config
			r := Start(t, Options{Prefix: tt.prefix, Configure: func(c *config.Config) { loaded = *c }})
			if r.Therapist == "" || r.Client == "" || r.Therapist == r.Client {
				t.Fatalf("tokens %q and %q: want two different ones", r.Therapist, r.Client)
			}
			if loaded.Language != "de" || time.Until(loaded.ExpiresAt) < 59*time.Minute {
				t.Errorf("config %+v: want a German room that expires in an hour", loaded)
			}
			if !strings.HasSuffix(r.URL, tt.wantPath) || r.WSURL != "ws"+strings.TrimPrefix(r.URL, "http")+"ws" {
				t.Errorf("URL %s, WSURL %s", r.URL, r.WSURL)
			}
			if got := r.Link(r.Client); got != r.URL+"#t="+r.Client {
				t.Errorf("Link = %s", got)
			}
			resp, err := http.Get(r.URL)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %d", r.URL, resp.StatusCode)
			}
		})
	}
}
