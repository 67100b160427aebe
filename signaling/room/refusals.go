package room

import (
	"slices"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// RefusalCodes are the error codes that refuse an attempt to enter the
// room: a link that is not valid or has expired, a full room, missing
// consent. It is the one list of them: the room counts an answered error
// with one of these codes in State.RefusedJoins (reported as the
// VideoSession's status.refusedJoins), the signaling server's metric
// sprechzimmer_signaling_join_refusals_total has exactly these reasons, and
// the README's list is tested against it. Errors that only ask for a fix
// (bad-name, already-joined, version-unsupported) are not refusals.
var RefusalCodes = []protocol.Code{
	protocol.CodeLinkInvalid,
	protocol.CodeLinkExpired,
	protocol.CodeRoomFull,
	protocol.CodeConsentRequired,
}

// IsRefusal reports whether an answered error with code refused an attempt
// to enter the room.
func IsRefusal(code protocol.Code) bool { return slices.Contains(RefusalCodes, code) }
