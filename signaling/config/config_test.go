package config

import (
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
)

// baseEnv is a valid minimal environment.
func baseEnv() map[string]string {
	c := &Config{
		TherapistToken: jointoken.Of("therapist-token"),
		ClientToken:    jointoken.Of("client-token"),
		ExpiresAt:      time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC),
		Language:       "de",
	}
	return c.Env()
}

func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "unset means the server's defaults", env: map[string]string{}},
		{
			name: "set",
			env:  map[string]string{EnvMaxConnections: "64", EnvMaxPendingConnections: "24", EnvHelloTimeout: "3s", EnvRefusalReportInterval: "10s"},
			want: Config{MaxConnections: 64, MaxPendingConnections: 24, HelloTimeout: 3 * time.Second, RefusalReportInterval: 10 * time.Second},
		},
		{name: "zero connections", env: map[string]string{EnvMaxConnections: "0"}, wantErr: EnvMaxConnections},
		{name: "not a number", env: map[string]string{EnvMaxPendingConnections: "many"}, wantErr: EnvMaxPendingConnections},
		{name: "not a duration", env: map[string]string{EnvHelloTimeout: "5"}, wantErr: EnvHelloTimeout},
		{name: "negative duration", env: map[string]string{EnvHelloTimeout: "-1s"}, wantErr: EnvHelloTimeout},
		{name: "zero refusal interval", env: map[string]string{EnvRefusalReportInterval: "0s"}, wantErr: EnvRefusalReportInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadOver(t, tt.env, tt.wantErr)
			if c == nil {
				return
			}
			if c.MaxConnections != tt.want.MaxConnections || c.MaxPendingConnections != tt.want.MaxPendingConnections || c.HelloTimeout != tt.want.HelloTimeout ||
				c.RefusalReportInterval != tt.want.RefusalReportInterval {
				t.Fatalf("got %d/%d/%v/%v, want %d/%d/%v/%v", c.MaxConnections, c.MaxPendingConnections, c.HelloTimeout, c.RefusalReportInterval,
					tt.want.MaxConnections, tt.want.MaxPendingConnections, tt.want.HelloTimeout, tt.want.RefusalReportInterval)
			}
			// Env is Load's inverse for these too.
			back := c.Env()
			for k, v := range tt.env {
				durations := map[string]time.Duration{EnvHelloTimeout: c.HelloTimeout, EnvRefusalReportInterval: c.RefusalReportInterval}
				if want, ok := durations[k]; ok {
					d, _ := time.ParseDuration(back[k])
					if d != want {
						t.Errorf("Env()[%s] = %q", k, back[k])
					}
					continue
				}
				if back[k] != v {
					t.Errorf("Env()[%s] = %q, want %q", k, back[k], v)
				}
			}
		})
	}
}

func TestAdmissionAndStart(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		env           map[string]string
		wantAdmission Admission
		wantStart     time.Time
		wantErr       string
	}{
		{name: "unset: the therapist admits, no start", env: map[string]string{}, wantAdmission: AdmissionTherapist},
		{name: "automatic", env: map[string]string{EnvAdmission: "Automatic"}, wantAdmission: AdmissionAutomatic},
		{name: "therapist", env: map[string]string{EnvAdmission: "Therapist"}, wantAdmission: AdmissionTherapist},
		{name: "unknown admission", env: map[string]string{EnvAdmission: "automatic"}, wantErr: EnvAdmission},
		{name: "start", env: map[string]string{EnvStartsAt: "2026-11-23T10:00:00Z"}, wantAdmission: AdmissionTherapist, wantStart: start},
		{name: "start not a time", env: map[string]string{EnvStartsAt: "10:00"}, wantErr: EnvStartsAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadOver(t, tt.env, tt.wantErr)
			if c == nil {
				return
			}
			if c.Admission != tt.wantAdmission || !c.StartsAt.Equal(tt.wantStart) {
				t.Fatalf("got %q/%v, want %q/%v", c.Admission, c.StartsAt, tt.wantAdmission, tt.wantStart)
			}
			back, err := Load(func(k string) string { return c.Env()[k] })
			if err != nil || back.Admission != c.Admission || !back.StartsAt.Equal(c.StartsAt) {
				t.Fatalf("Env is not Load's inverse: %v %q %v", err, back.Admission, back.StartsAt)
			}
		})
	}
}

// loadOver loads the base environment with env set over it. With wantErr,
// Load must fail naming it and loadOver returns nil; otherwise Load must
// succeed.
func loadOver(t *testing.T, env map[string]string, wantErr string) *Config {
	t.Helper()
	all := baseEnv()
	for k, v := range env {
		all[k] = v
	}
	c, err := Load(func(k string) string { return all[k] })
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one naming %s", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}
