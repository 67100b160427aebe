// Package turncred mints and checks TURN credentials in the "TURN REST API"
// form (draft-uberti-behave-turn-rest) that coturn's use-auth-secret and
// pion/turn's long-term credential handler accept: the username is
// "<expiry-unix>:<id>" and the password is base64(HMAC-SHA1(secret, username)).
package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API form prescribes.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Credential is a username and password pair for a TURN server.
type Credential struct {
	// Username is "<expiry-unix>:<id>".
	Username string
	// Password is base64(HMAC-SHA1(secret, Username)).
	Password string
}

// ErrExpired means that the credential's expiry time has passed.
var ErrExpired = errors.New("turn credential expired")

// ErrMalformed means that the username is not of the form "<expiry-unix>:<id>".
var ErrMalformed = errors.New("turn username is not of the form <expiry-unix>:<id>")

// Mint returns a credential for id that is valid until expiry.
func Mint(secret []byte, id string, expiry time.Time) Credential {
	username := strconv.FormatInt(expiry.Unix(), 10) + ":" + id
	return Credential{Username: username, Password: Password(secret, username)}
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
