package turnsecret

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sprechzimmer/sprechzimmer/internal/secretvolume"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
)

const (
	secretA = "secret-a-0123456789abcdef"
	secretB = "secret-b-0123456789abcdef"
)

// volume is a Secret volume in a temporary directory with its two files.
func volume(t *testing.T, data map[string]string) (string, Files) {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, data)
	return dir, Files{Current: filepath.Join(dir, "secret"), Previous: filepath.Join(dir, "previous")}
}

func write(t *testing.T, dir string, data map[string]string) {
	t.Helper()
	b := map[string][]byte{}
	for k, v := range data {
		b[k] = []byte(v)
	}
	if err := secretvolume.Write(dir, b); err != nil {
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	tests := []struct {
		name         string
		update       map[string]string
		wantErr      string
		wantCurrent  string
		wantPrevious string
		wantResult   string
	}{
		{name: "rotation: new current, old previous", update: map[string]string{"secret": secretB, "previous": secretA},
			wantCurrent: secretB, wantPrevious: secretA, wantResult: ResultApplied},
		{name: "new current only", update: map[string]string{"secret": secretB},
			wantCurrent: secretB, wantResult: ResultApplied},
		{name: "unchanged", update: map[string]string{"secret": secretA},
			wantCurrent: secretA},
		{name: "trailing newline", update: map[string]string{"secret": secretB + "\n", "previous": secretA},
			wantErr: "whitespace", wantCurrent: secretA, wantResult: ResultRefused},
		{name: "too short", update: map[string]string{"secret": "s3cr3t-x", "previous": secretA},
			wantErr: "shorter than 16", wantCurrent: secretA, wantResult: ResultRefused},
		{name: "empty", update: map[string]string{"secret": ""},
			wantErr: "shorter than 16", wantCurrent: secretA, wantResult: ResultRefused},
		{name: "invalid previous", update: map[string]string{"secret": secretB, "previous": " " + secretA},
			wantErr: "previous secret", wantCurrent: secretA, wantResult: ResultRefused},
		{name: "current key removed", update: map[string]string{"previous": secretA},
			wantErr: "read the current secret", wantCurrent: secretA, wantResult: ResultRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, files := volume(t, map[string]string{"secret": secretA})
			reg := prometheus.NewRegistry()
			log := &testlog.Buffer{}
			s, err := Open(files, Options{Logger: slog.New(slog.NewJSONHandler(log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Register(reg, "test"); err != nil {
				t.Fatal(err)
			}
			before := s.Secrets()
			write(t, dir, tt.update)
			err = s.Reload()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Reload() = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Reload() = %v, want an error saying %q", err, tt.wantErr)
			}
			got := s.Secrets()
			if string(got.Current) != tt.wantCurrent || string(got.Previous) != tt.wantPrevious {
				t.Errorf("secrets after the reload: current %q, previous %q; want %q, %q", got.Current, got.Previous, tt.wantCurrent, tt.wantPrevious)
			}
			if tt.wantErr != "" && got != before {
				t.Error("a refused update replaced the secrets in use")
			}
			for _, result := range []string{ResultApplied, ResultRefused} {
				want := 0.0
				if result == tt.wantResult {
					want = 1
				}
				if n := value(t, s.reloads.WithLabelValues(result)); n != want {
					t.Errorf("reloads{result=%q} = %v, want %v", result, n, want)
				}
			}
			if refusing := value(t, s.refusing); (refusing == 1) != (tt.wantResult == ResultRefused) {
				t.Errorf("reload_refused = %v after result %q", refusing, tt.wantResult)
			}
			// A second look at the same files is no change: nothing more
			// is counted or logged.
			lines := strings.Count(log.String(), "\n")
			_ = s.Reload()
			if total := value(t, s.reloads.WithLabelValues(ResultApplied)) + value(t, s.reloads.WithLabelValues(ResultRefused)); tt.wantResult != "" && total != 1 {
				t.Errorf("%v reloads counted after reading the same files twice, want 1", total)
			}
			if again := strings.Count(log.String(), "\n"); again != lines {
				t.Errorf("reading the same files again logged %d more lines", again-lines)
			}
			for _, secret := range []string{secretA, secretB, "s3cr3t-x"} {
				if strings.Contains(log.String(), secret) {
					t.Errorf("the log shows a secret: %s", log.String())
				}
			}
			if err != nil && (strings.Contains(err.Error(), secretA) || strings.Contains(err.Error(), secretB)) {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestOpenRefusesInvalidSecrets(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		wantErr string
	}{
		{"no current secret", map[string]string{"previous": secretA}, "read the current secret"},
		{"trailing newline", map[string]string{"secret": secretA + "\n"}, "whitespace"},
		{"short previous", map[string]string{"secret": secretA, "previous": "s3cr3t-x"}, "previous secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, files := volume(t, tt.data)
			if _, err := Open(files, Options{}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open() = %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestFor checks which secret a credential is checked against: the one its
// username names, else the current one.
func TestFor(t *testing.T) {
	a, b := []byte(secretA), []byte(secretB)
	expiry := time.Now().Add(time.Hour)
	tests := []struct {
		name     string
		secrets  Secrets
		username string
		want     []byte
		wantRole string
	}{
		{"minted under the current", Secrets{Current: b, Previous: a}, turncred.Mint(b, "r", expiry).Username, b, RoleCurrent},
		{"minted under the previous", Secrets{Current: b, Previous: a}, turncred.Mint(a, "r", expiry).Username, a, RolePrevious},
		{"previous dropped", Secrets{Current: b}, turncred.Mint(a, "r", expiry).Username, b, RoleCurrent},
		{"no key id", Secrets{Current: b, Previous: a}, "1700000000:r", b, RoleCurrent},
		{"unknown key id", Secrets{Current: b, Previous: a}, "1700000000:r:00000000", b, RoleCurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, role := tt.secrets.For(tt.username)
			if !bytes.Equal(got, tt.want) || role != tt.wantRole {
				t.Errorf("For() = %q, %s; want %q, %s", got, role, tt.want, tt.wantRole)
			}
		})
	}
}

// TestWatchFollowsTheVolume changes the volume as the kubelet does and
// waits for Watch to put the new secret in use.
func TestWatchFollowsTheVolume(t *testing.T) {
	dir, files := volume(t, map[string]string{"secret": secretA})
	s, err := Open(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.Watch(ctx, 10*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })

	write(t, dir, map[string]string{"secret": secretB, "previous": secretA})
	testenv.EventuallyWithin(t, "Watch loads the new secret", time.Minute, func() error {
		if string(s.Current()) != secretB {
			return fmt.Errorf("secrets in use: %s", s.Secrets())
		}
		return nil
	})
	if got := string(s.Secrets().Previous); got != secretA {
		t.Errorf("previous secret %q, want %q", got, secretA)
	}
}

// value reads a counter's or gauge's value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
