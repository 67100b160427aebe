// Package jointoken makes the personal join tokens of a room and checks them
// against their stored hashes. The operator keeps tokens in the room's Secret
// and hands only their hashes to the signaling server.
package jointoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Bytes is the number of random bytes in a token: 256 bits.
const Bytes = 32

// Hash is the SHA-256 digest of a token.
type Hash [sha256.Size]byte

// New returns a fresh token: 256 bits from crypto/rand, base64url without padding.
func New() (string, error) {
	b := make([]byte, Bytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Of returns the hash of token.
func Of(token string) Hash { return sha256.Sum256([]byte(token)) }

// String returns the hash in lower-case hex, the form kept in configuration.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Matches reports in constant time whether token hashes to h.
func (h Hash) Matches(token string) bool {
	got := Of(token)
	return subtle.ConstantTimeCompare(got[:], h[:]) == 1
}

// ParseHash reads a hash in the hex form that String writes.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errors.New("token hash must be 64 hex digits")
	}
	copy(h[:], b)
	return h, nil
}
