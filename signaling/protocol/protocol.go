// Package protocol is the signaling wire protocol v2 as written down in
// signaling/PROTOCOL.md: the envelope, the message types, their payloads, the
// error codes and the WebSocket close codes. It only describes and decodes
// messages; the room decides what they mean.
package protocol

import (
	"encoding/json"
	"slices"
	"time"
)

// Version is the protocol version a browser announces in hello. Version 2
// added admission by the therapist (admit, end, client-waiting, admitted,
// ended) and the takeover of a seat from another window.
const Version = 2

// SourceHeader is the request header in which the front door tells a room
// server where a request comes from: not the address, but a pseudonym of
// it (a keyed hash the front door makes with a key of its own), so that
// the room can slow down a source that keeps guessing tokens without ever
// learning an address. The front door always sets it, replacing whatever a
// browser sent.
const SourceHeader = "X-Sprechzimmer-Source"

// MaxMessageBytes is the largest frame the server accepts (64 KiB).
const MaxMessageBytes = 64 << 10

// MaxNameRunes is the longest display name, counted after cleaning.
const MaxNameRunes = 64

// Type is the type of a message, the envelope's "type".
type Type string

// Messages from the browser.
const (
	// TypeHello is the first message: protocol version and join token.
	TypeHello Type = "hello"
	// TypeJoin enters the room.
	TypeJoin Type = "join"
	// TypeOffer is an SDP offer for the other person (both directions).
	TypeOffer Type = "offer"
	// TypeAnswer is an SDP answer for the other person (both directions).
	TypeAnswer Type = "answer"
	// TypeCandidate is an ICE candidate for the other person (both directions).
	TypeCandidate Type = "candidate"
	// TypeHangup leaves the room.
	TypeHangup Type = "hangup"
	// TypeAdmit lets the waiting client into the call (therapist only).
	TypeAdmit Type = "admit"
	// TypeEnd ends the call for both (therapist only).
	TypeEnd Type = "end"
)

// Messages from the server.
const (
	// TypeWelcome answers a valid hello.
	TypeWelcome Type = "welcome"
	// TypeJoined answers a successful join.
	TypeJoined Type = "joined"
	// TypePeerJoined tells the one in the room that the other person entered.
	TypePeerJoined Type = "peer-joined"
	// TypePeerLeft tells the one in the room that the other person left.
	TypePeerLeft Type = "peer-left"
	// TypeClientWaiting tells the therapist that the client is in the
	// waiting room and waits to be admitted.
	TypeClientWaiting Type = "client-waiting"
	// TypeAdmitted tells the waiting client that they are in the call now.
	TypeAdmitted Type = "admitted"
	// TypeEnded tells the client that the therapist ended the call.
	TypeEnded Type = "ended"
	// TypeRoomClosed is sent to everyone at expiry, before close code 4006.
	TypeRoomClosed Type = "room-closed"
	// TypeError reports an error; see Code.
	TypeError Type = "error"
)

// fromBrowser is the set of types a browser may send.
var fromBrowser = map[Type]bool{
	TypeHello: true,
	TypeJoin:  true, TypeOffer: true, TypeAnswer: true, TypeCandidate: true, TypeHangup: true,
	TypeAdmit: true, TypeEnd: true,
}

// fromServer is the set of types the server sends.
var fromServer = map[Type]bool{
	TypeWelcome: true, TypeJoined: true,
	TypePeerJoined: true, TypePeerLeft: true, TypeOffer: true, TypeAnswer: true,
	TypeCandidate: true, TypeRoomClosed: true, TypeError: true,
	TypeClientWaiting: true, TypeAdmitted: true, TypeEnded: true,
}

// Envelope is one frame on the wire.
type Envelope struct {
	// Type is the message type.
	Type Type `json:"type"`
	// Data is the type's payload, still encoded; absent, null or an object.
	Data json.RawMessage `json:"data,omitempty"`
}

// Role is who a join token belongs to.
type Role string

// The two roles of a room.
const (
	// RoleTherapist is the therapist; impolite in perfect negotiation.
	RoleTherapist Role = "therapist"
	// RoleClient is the client; polite in perfect negotiation, must consent.
	RoleClient Role = "client"
)

// Other returns the other role of the room.
func (r Role) Other() Role {
	if r == RoleTherapist {
		return RoleClient
	}
	return RoleTherapist
}

// Hello is the data of hello.
type Hello struct {
	// Version is the protocol version; must be Version.
	Version int `json:"version"`
	// Token is the join token from the link's fragment.
	Token string `json:"token"`
}

// SDP is the data of offer and answer.
type SDP struct {
	// SDP is the session description.
	SDP string `json:"sdp"`
}

// Candidate is an RTCIceCandidateInit, the data of candidate. A nil
// Candidate (JSON null or absent) means end of candidates.
type Candidate struct {
	// Candidate is the candidate line, nil at the end of candidates.
	Candidate *string `json:"candidate"`
	// SDPMid is the media stream identification tag.
	SDPMid *string `json:"sdpMid,omitempty"`
	// SDPMLineIndex is the index of the m-line.
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	// UsernameFragment is the ICE username fragment.
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Consent is the client's consent to the terms and to the processing of data.
type Consent struct {
	// TermsAccepted must be true.
	TermsAccepted bool `json:"termsAccepted"`
	// ProcessingAccepted must be true.
	ProcessingAccepted bool `json:"processingAccepted"`
	// TermsVersion must be the room's current terms version.
	TermsVersion string `json:"termsVersion"`
}

// Join is the data of join.
type Join struct {
	// Consent is required for the client, ignored for the therapist.
	Consent *Consent `json:"consent,omitempty"`
	// Name is the optional display name.
	Name string `json:"name,omitempty"`
	// Resume is the value of an earlier joined in this tab.
	Resume string `json:"resume,omitempty"`
	// Takeover asks for the seat even when another window holds it: that
	// window is closed with replaced.
	Takeover bool `json:"takeover,omitempty"`
	// Check is the client's summary of its camera, microphone and
	// connection test, passed to the therapist in client-waiting.
	Check *Check `json:"check,omitempty"`
}

// CheckResult is one line of a Check.
type CheckResult string

// The results of a Check line.
const (
	// CheckOK: it works.
	CheckOK CheckResult = "ok"
	// CheckRefused: the browser was not allowed to use the device.
	CheckRefused CheckResult = "refused"
	// CheckMissing: no such device.
	CheckMissing CheckResult = "missing"
	// CheckBusy: another program uses the device.
	CheckBusy CheckResult = "busy"
	// CheckFailed: it did not work for another reason.
	CheckFailed CheckResult = "failed"
	// CheckUntested: not tested.
	CheckUntested CheckResult = "untested"
)

// CheckResults are the values a Check line may take.
var CheckResults = []CheckResult{CheckOK, CheckRefused, CheckMissing, CheckBusy, CheckFailed, CheckUntested}

// Check is the client's own summary of its device and connection test.
// Every field is one of CheckResults or empty (untested).
type Check struct {
	// Camera is the camera's result.
	Camera CheckResult `json:"camera,omitempty"`
	// Microphone is the microphone's result.
	Microphone CheckResult `json:"microphone,omitempty"`
	// Connection is the connection test's result.
	Connection CheckResult `json:"connection,omitempty"`
}

// Valid reports whether every field is empty or one of CheckResults.
func (c Check) Valid() bool {
	for _, v := range []CheckResult{c.Camera, c.Microphone, c.Connection} {
		if v != "" && !slices.Contains(CheckResults, v) {
			return false
		}
	}
	return true
}

// ClientWaiting is the data of client-waiting: who waits, as far as the
// client said.
type ClientWaiting struct {
	// Name is the client's display name, if one was given.
	Name string `json:"name,omitempty"`
	// OtherDevice is true when the client's link was opened on another
	// device while the seat's device was away (see Peer.OtherDevice).
	OtherDevice bool `json:"otherDevice,omitempty"`
	// Check is the client's test summary, if it sent one.
	Check *Check `json:"check,omitempty"`
}

// Admitted is the data of admitted.
type Admitted struct {
	// Peer is the therapist, who is in the room when admitted arrives.
	Peer *Peer `json:"peer"`
}

// EndedByTherapist is the only reason in ended.
const EndedByTherapist = "therapist"

// Ended is the data of ended.
type Ended struct {
	// By is EndedByTherapist.
	By string `json:"by"`
}

// Welcome is the data of welcome.
type Welcome struct {
	// Role follows from the token.
	Role Role `json:"role"`
	// TermsVersion is the terms version a client must consent to.
	TermsVersion string `json:"termsVersion"`
	// Language is the room's default UI language, "de" or "en".
	Language string `json:"language"`
	// ExpiresAt is the end of the room, RFC 3339.
	ExpiresAt time.Time `json:"expiresAt"`
	// ICEServers are handed to RTCPeerConnection.
	ICEServers []ICEServer `json:"iceServers"`
	// StartsAt is the appointment's start, RFC 3339; absent when unknown.
	StartsAt *time.Time `json:"startsAt,omitempty"`
	// SeatInUse is true when another connection holds this link's seat:
	// the link is open in another window or on another device. A join
	// with Takeover takes the seat over.
	SeatInUse bool `json:"seatInUse"`
}

// ICEServer is one STUN or TURN server in the form RTCPeerConnection takes
// (an RTCIceServer). The operator hands the list to the signaling server,
// which passes it on in welcome.
type ICEServer struct {
	// URLs are the server's stun:, turn: or turns: URLs.
	URLs []string `json:"urls"`
	// Username is the TURN user name, empty for STUN.
	Username string `json:"username,omitempty"`
	// Credential is the TURN password, empty for STUN.
	Credential string `json:"credential,omitempty"`
}

// Peer describes a person in the room.
type Peer struct {
	// Role is the person's role.
	Role Role `json:"role"`
	// Name is the display name, if one was given.
	Name string `json:"name,omitempty"`
	// OtherDevice is true when this person entered with the role's link
	// from another device while the seat's device was away: the link was
	// opened on another device, and Name is that device's.
	OtherDevice bool `json:"otherDevice,omitempty"`
}

// Joined is the data of joined.
type Joined struct {
	// Polite is true for the client (perfect negotiation).
	Polite bool `json:"polite"`
	// Resume lets this tab take its place back after a reconnect.
	Resume string `json:"resume"`
	// Peer is the other person if already in the call, else null; always
	// null for a waiting client.
	Peer *Peer `json:"peer"`
	// Waiting is true for a client who waits for the therapist to admit
	// them; admitted follows.
	Waiting bool `json:"waiting"`
}

// Reasons in peer-left.
const (
	// LeftHangup means the other person hung up.
	LeftHangup = "hangup"
	// LeftGone means the other person's connection dropped.
	LeftGone = "gone"
)

// PeerLeft is the data of peer-left.
type PeerLeft struct {
	// Role is the role that left.
	Role Role `json:"role"`
	// Reason is LeftHangup or LeftGone.
	Reason string `json:"reason"`
}

// ClosedExpired is the reason in room-closed at expiry.
const ClosedExpired = "expired"

// RoomClosed is the data of room-closed.
type RoomClosed struct {
	// Reason is ClosedExpired.
	Reason string `json:"reason"`
}

// ErrorData is the data of error.
type ErrorData struct {
	// Code is the machine-readable error code.
	Code Code `json:"code"`
	// Message is plain English for developers; never personal data.
	Message string `json:"message"`
}
