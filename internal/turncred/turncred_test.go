package turncred

import (
	"errors"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	secret := []byte("shared-secret")
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	valid := Mint(secret, "room-a", now.Add(time.Hour))

	tests := []struct {
		name     string
		secret   []byte
		username string
		password string
		at       time.Time
		wantErr  error
		wantOK   bool
	}{
		{name: "valid before expiry", secret: secret, username: valid.Username, password: valid.Password, at: now, wantOK: true},
		{name: "expired at expiry", secret: secret, username: valid.Username, password: valid.Password, at: now.Add(time.Hour), wantErr: ErrExpired},
		{name: "other secret", secret: []byte("other"), username: valid.Username, password: valid.Password, at: now},
		{name: "tampered expiry", secret: secret, username: "9999999999:room-a", password: valid.Password, at: now},
		{name: "no colon", secret: secret, username: "room-a", password: valid.Password, at: now, wantErr: ErrMalformed},
		{name: "non-numeric expiry", secret: secret, username: "soon:room-a", password: valid.Password, at: now, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.username, tt.password, tt.at)
			switch {
			case tt.wantOK && err != nil:
				t.Fatalf("Verify() = %v, want nil", err)
			case !tt.wantOK && err == nil:
				t.Fatal("Verify() = nil, want an error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Verify() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestPasswordKnownVector checks the HMAC against a value computed by hand
// with coturn's formula: echo -n "$user" | openssl dgst -binary -sha1 -hmac "$secret" | base64.
func TestPasswordKnownVector(t *testing.T) {
	got := Password([]byte("north"), "1700000000:room")
	const want = "e/x2uYeiePljXgbo+75KisVoGj0="
	if got != want {
		t.Fatalf("Password() = %q, want %q", got, want)
	}
}
