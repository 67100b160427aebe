package protocol

// Code is an error code in the data of error. The set is closed, so codes are
// safe as metric labels.
type Code string

// Non-fatal error codes: the connection and the room stay.
const (
	// CodeBadMessage: not JSON, not an envelope, or data of the wrong shape.
	CodeBadMessage Code = "bad-message"
	// CodeUnknownType: type is not a browser message type.
	CodeUnknownType Code = "unknown-type"
	// CodeTooLarge: frame over MaxMessageBytes.
	CodeTooLarge Code = "too-large"
	// CodeRateLimited: too many messages.
	CodeRateLimited Code = "rate-limited"
	// CodeAlreadyWelcomed: a second hello.
	CodeAlreadyWelcomed Code = "already-welcomed"
	// CodeConsentRequired: client join without full consent for the current terms.
	CodeConsentRequired Code = "consent-required"
	// CodeBadName: display name too long.
	CodeBadName Code = "bad-name"
	// CodeNotJoined: offer/answer/candidate/hangup outside the room.
	CodeNotJoined Code = "not-joined"
	// CodeNoPeer: offer/answer/candidate while the other person is not there.
	CodeNoPeer Code = "no-peer"
	// CodeUnexpectedAnswer: answer with no pending offer from the other side.
	CodeUnexpectedAnswer Code = "unexpected-answer"
	// CodeAlreadyJoined: join while in the room.
	CodeAlreadyJoined Code = "already-joined"
	// CodeSeatTaken: a join with the resume of the seat's earlier device
	// after its grace period, while another device holds the seat.
	CodeSeatTaken Code = "seat-taken"
	// CodeNotTherapist: admit or end from the client.
	CodeNotTherapist Code = "not-therapist"
	// CodeNotWaiting: admit while no client waits.
	CodeNotWaiting Code = "not-waiting"
)

// Fatal error codes: sent, then the WebSocket is closed with CloseCode.
const (
	// CodeHelloRequired: the first message was not a valid hello.
	CodeHelloRequired Code = "hello-required"
	// CodeVersionUnsupported: hello with a version other than Version.
	CodeVersionUnsupported Code = "version-unsupported"
	// CodeLinkInvalid: the token is not one of the room's.
	CodeLinkInvalid Code = "link-invalid"
	// CodeLinkExpired: a valid token after the room's expiry.
	CodeLinkExpired Code = "link-expired"
	// CodeRoomFull: the role is held by a live connection.
	CodeRoomFull Code = "room-full"
	// CodeReplaced: a reconnect of the same role took this connection's place.
	CodeReplaced Code = "replaced"
	// CodeReclaimed: the seat's earlier device came back within its grace
	// period and took the seat from this connection.
	CodeReclaimed Code = "reclaimed"
	// CodeRoomClosed: the appointment time is over.
	CodeRoomClosed Code = "room-closed"
)

// WebSocket close codes of fatal errors.
const (
	// CloseProtocol goes with hello-required and version-unsupported.
	CloseProtocol = 4000
	// CloseLinkInvalid goes with link-invalid.
	CloseLinkInvalid = 4001
	// CloseLinkExpired goes with link-expired.
	CloseLinkExpired = 4002
	// CloseRoomFull goes with room-full.
	CloseRoomFull = 4003
	// CloseReplaced goes with replaced.
	CloseReplaced = 4005
	// CloseRoomClosed goes with room-closed.
	CloseRoomClosed = 4006
	// CloseReclaimed goes with reclaimed.
	CloseReclaimed = 4007
)

// closeCodes maps each fatal code to its close code.
var closeCodes = map[Code]int{
	CodeHelloRequired:      CloseProtocol,
	CodeVersionUnsupported: CloseProtocol,
	CodeLinkInvalid:        CloseLinkInvalid,
	CodeLinkExpired:        CloseLinkExpired,
	CodeRoomFull:           CloseRoomFull,
	CodeReplaced:           CloseReplaced,
	CodeRoomClosed:         CloseRoomClosed,
	CodeReclaimed:          CloseReclaimed,
}

// Codes lists every error code, for metrics that want to start at zero.
var Codes = []Code{
	CodeBadMessage, CodeUnknownType, CodeTooLarge, CodeRateLimited, CodeAlreadyWelcomed,
	CodeConsentRequired, CodeBadName, CodeNotJoined, CodeNoPeer, CodeUnexpectedAnswer,
	CodeAlreadyJoined, CodeSeatTaken, CodeNotTherapist, CodeNotWaiting,
	CodeHelloRequired, CodeVersionUnsupported, CodeLinkInvalid, CodeLinkExpired,
	CodeRoomFull, CodeReplaced, CodeRoomClosed, CodeReclaimed,
}

// Error is a protocol error: what the server answers in an error message.
// Its Message is plain English and never holds personal data.
type Error struct {
	// Code is the error code.
	Code Code
	// Message is for developers.
	Message string
}

// NewError returns an error with code and message. Callers pass constant
// messages, so nothing personal can slip in through formatting.
func NewError(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Error returns "code: message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Fatal reports whether the connection is closed after this error.
func (e *Error) Fatal() bool { return closeCodes[e.Code] != 0 }

// CloseCode returns the WebSocket close code for a fatal error, 0 otherwise.
func (e *Error) CloseCode() int { return closeCodes[e.Code] }

// Data returns the payload of the error message.
func (e *Error) Data() ErrorData { return ErrorData{Code: e.Code, Message: e.Message} }
