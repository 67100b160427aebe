// The signaling wire protocol v1 (signaling/PROTOCOL.md) as JSDoc typedefs
// and constants. Keep this file in step with PROTOCOL.md and the Go package
// signaling/protocol.

/** The protocol version sent in hello. */
export const VERSION = 1;

/** The longest display name, in characters, after cleaning. */
export const MAX_NAME = 64;

/**
 * One frame on the wire.
 * @typedef {object} Envelope
 * @property {string} type one of the message types below
 * @property {object} [data] the payload of that type
 */

/**
 * @typedef {"therapist"|"client"} Role
 */

// ---- from the browser ----

/**
 * hello: the first message, exactly once.
 * @typedef {object} Hello
 * @property {number} version always VERSION
 * @property {string} token the join token from the link's fragment
 */

/**
 * offer, answer, test-offer, test-answer.
 * @typedef {object} SDP
 * @property {string} sdp
 */

/**
 * candidate, test-candidate: an RTCIceCandidateInit; a null candidate ends
 * the candidates.
 * @typedef {object} Candidate
 * @property {string|null} candidate
 * @property {string|null} [sdpMid]
 * @property {number|null} [sdpMLineIndex]
 * @property {string|null} [usernameFragment]
 */

/**
 * The client's consent; the therapist sends none.
 * @typedef {object} Consent
 * @property {true} termsAccepted
 * @property {true} processingAccepted
 * @property {string} termsVersion the version from welcome
 */

/**
 * join: enter the room.
 * @typedef {object} Join
 * @property {Consent} [consent] required for the client
 * @property {string} [name] optional display name, at most MAX_NAME characters
 * @property {string} [resume] the value of an earlier joined in this tab
 */

// ---- from the server ----

/**
 * @typedef {object} ICEServer
 * @property {string[]} urls
 * @property {string} [username]
 * @property {string} [credential]
 */

/**
 * welcome: the answer to a valid hello.
 * @typedef {object} Welcome
 * @property {Role} role
 * @property {string} termsVersion
 * @property {"de"|"en"} language the room's default language
 * @property {string} expiresAt RFC 3339
 * @property {ICEServer[]} iceServers
 */

/**
 * A person in the room.
 * @typedef {object} Peer
 * @property {Role} role
 * @property {string} [name]
 */

/**
 * joined: the answer to join.
 * @typedef {object} Joined
 * @property {boolean} polite true for the client (perfect negotiation)
 * @property {string} resume keep in sessionStorage to take the place back
 * @property {Peer|null} peer the other person if already there
 */

/**
 * peer-left.
 * @typedef {object} PeerLeft
 * @property {Role} role
 * @property {"hangup"|"gone"} reason gone: the connection dropped
 */

/**
 * room-closed, followed by close code 4006.
 * @typedef {object} RoomClosed
 * @property {"expired"} reason
 */

/**
 * error: code is machine-readable; message is English for developers and
 * never shown to people.
 * @typedef {object} ErrorData
 * @property {string} code
 * @property {string} message
 */

/** WebSocket close codes of fatal errors, by name. */
export const Close = Object.freeze({
  PROTOCOL: 4000,
  LINK_INVALID: 4001,
  LINK_EXPIRED: 4002,
  ROOM_FULL: 4003,
  REPLACED: 4005,
  ROOM_CLOSED: 4006,
});

/**
 * The error code for each fatal close code; the page shows the text of that
 * code and does not reconnect.
 * @type {Readonly<Record<number, string>>}
 */
export const FATAL_CLOSE = Object.freeze({
  [Close.PROTOCOL]: "hello-required",
  [Close.LINK_INVALID]: "link-invalid",
  [Close.LINK_EXPIRED]: "link-expired",
  [Close.ROOM_FULL]: "room-full",
  [Close.REPLACED]: "replaced",
  [Close.ROOM_CLOSED]: "room-closed",
});

/** Error codes after which the server closes the connection. */
export const FATAL_CODES = Object.freeze(new Set([
  "hello-required", "version-unsupported", "link-invalid", "link-expired",
  "room-full", "replaced", "room-closed",
]));

/**
 * cleanName strips control characters and surrounding whitespace, as the
 * server does before it checks the length.
 * @param {string} name
 * @returns {string}
 */
export function cleanName(name) {
  return name.replace(/\p{Cc}/gu, "").trim();
}
