package turn

import (
	"errors"
	"time"

	pionturn "github.com/pion/turn/v5"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turnsecret"
)

// Reasons an authentication fails, the values of the auth failures metric's
// "reason" label.
const (
	// ReasonMalformed: the username is not "<expiry-unix>:<id>".
	ReasonMalformed = "malformed"
	// ReasonExpired: the username's expiry time has passed.
	ReasonExpired = "expired"
	// ReasonWrongRealm: the request names a realm other than the server's.
	ReasonWrongRealm = "wrong_realm"
	// ReasonBadCredential: the message integrity does not match the key
	// derived from the shared secret, so the password was not minted with it.
	ReasonBadCredential = "bad_credential" //nolint:gosec // G101: a metric label value, not a credential
)

// authReasons lists every reason, so the metric starts with all of them at 0.
var authReasons = []string{ReasonMalformed, ReasonExpired, ReasonWrongRealm, ReasonBadCredential}

// authHandler returns the pion AuthHandler that accepts exactly credentials
// minted by turncred.Mint under one of secrets() that have not expired at
// now(): the secret the username names by key id, else the current one.
// pion checks the message integrity with the key returned here; a mismatch
// is reported through the OnAuth event (see Server), not here.
func authHandler(secrets func() *turnsecret.Secrets, realm string, now func() time.Time, fail func(reason string)) pionturn.AuthHandler {
	return func(ra *pionturn.RequestAttributes) (string, []byte, bool) {
		expiry, err := turncred.Expiry(ra.Username)
		if err != nil {
			fail(ReasonMalformed)
			return "", nil, false
		}
		if !now().Before(expiry) {
			fail(ReasonExpired)
			return "", nil, false
		}
		if ra.Realm != realm {
			fail(ReasonWrongRealm)
			return "", nil, false
		}
		secret, _ := secrets().For(ra.Username)
		password := turncred.Password(secret, ra.Username)
		return ra.Username, pionturn.GenerateAuthKey(ra.Username, realm, password), true
	}
}

// errEmptySecret is returned when the shared secret is empty.
var errEmptySecret = errors.New("turn shared secret is empty")
