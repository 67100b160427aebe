// Package turncred mints and checks TURN credentials in the "TURN REST API"
// form (draft-uberti-behave-turn-rest) that coturn's use-auth-secret and
// pion/turn's long-term credential handler accept: the username is
// "<expiry-unix>:<id>:<key-id>" and the password is
// base64(HMAC-SHA1(secret, username)). The key id names the secret without
// revealing it, so that a TURN server that accepts two secrets during a
// rotation knows which one to check; coturn reads only the expiry and tries
// each of its secrets.
package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API form prescribes.
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Credential is a username and password pair for a TURN server.
type Credential struct {
	// Username is "<expiry-unix>:<id>:<key-id>".
	Username string
	// Password is base64(HMAC-SHA1(secret, Username)).
	Password string
}

// ErrExpired means that the credential's expiry time has passed.
var ErrExpired = errors.New("turn credential expired")

// ErrMalformed means that the username is not of the form "<expiry-unix>:<id>".
var ErrMalformed = errors.New("turn username is not of the form <expiry-unix>:<id>")

// Mint returns a credential for id that is valid until expiry, minted under
// secret; its username names the secret by KeyID.
func Mint(secret []byte, id string, expiry time.Time) Credential {
	username := strconv.FormatInt(expiry.Unix(), 10) + ":" + id + ":" + KeyID(secret)
	return Credential{Username: username, Password: Password(secret, username)}
}

// keyIDLen is the length of a key id in hex digits (32 bits).
const keyIDLen = 8

// KeyID names secret in usernames and logs without revealing it: the first
// 8 hex digits of SHA-256 over a fixed label and the secret. Two secrets
// share a key id with a chance of 1 in 2^32.
func KeyID(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("sprechzimmer turn key id\x00"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))[:keyIDLen]
}

// KeyIDOf returns the key id that username names, or "" when it names none
// (a username minted without one, "<expiry-unix>:<id>").
func KeyIDOf(username string) string {
	_, rest, ok := strings.Cut(username, ":")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return ""
	}
	id := rest[i+1:]
	if len(id) != keyIDLen {
		return ""
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return ""
		}
	}
	return id
}

// Password returns the password that belongs to username under secret.
func Password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Expiry returns the expiry time encoded in a username.
func Expiry(username string) (time.Time, error) {
	head, _, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, ErrMalformed
	}
	unix, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return time.Time{}, ErrMalformed
	}
	return time.Unix(unix, 0), nil
}

// Verify checks that password belongs to username under secret and that the
// username has not expired at now.
func Verify(secret []byte, username, password string, now time.Time) error {
	expiry, err := Expiry(username)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(Password(secret, username)), []byte(password)) {
		return errors.New("turn password does not match")
	}
	if !now.Before(expiry) {
		return fmt.Errorf("%w at %s", ErrExpired, expiry.UTC().Format(time.RFC3339))
	}
	return nil
}
