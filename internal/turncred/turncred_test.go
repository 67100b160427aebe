package turncred

import (
	"errors"
	"strings"
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

func TestKeyIDOf(t *testing.T) {
	secret := []byte("shared-secret-0123456789")
	minted := Mint(secret, "room-a", time.Unix(1700000000, 0))
	tests := []struct {
		name     string
		username string
		want     string
	}{
		{name: "minted", username: minted.Username, want: KeyID(secret)},
		{name: "without a key id", username: "1700000000:room-a", want: ""},
		{name: "no colon", username: "room-a", want: ""},
		{name: "too short", username: "1700000000:room-a:abc", want: ""},
		{name: "not hex", username: "1700000000:room-a:abcdefgx", want: ""},
		{name: "upper case", username: "1700000000:room-a:ABCDEF01", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KeyIDOf(tt.username); got != tt.want {
				t.Errorf("KeyIDOf(%q) = %q, want %q", tt.username, got, tt.want)
			}
		})
	}
	if KeyID(secret) == KeyID([]byte("another-secret-0123456789")) {
		t.Error("two secrets have one key id")
	}
	if strings.Contains(minted.Username, string(secret)) {
		t.Error("the username shows the secret")
	}
}
