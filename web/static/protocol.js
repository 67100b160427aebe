// @ts-check
// The signaling wire protocol v2 (signaling/PROTOCOL.md) as JSDoc typedefs
// and constants. Keep this file in step with PROTOCOL.md and the Go package
// signaling/protocol.

/** The protocol version sent in hello. */
export const VERSION = 2;

/** The longest display name, in characters, after cleaning. */
export const MAX_NAME = 64;

/** The message types a browser sends. */
export const FROM_BROWSER = Object.freeze(/** @type {const} */ ([
  "hello", "join",
  "offer", "answer", "candidate", "hangup", "admit", "end",
]));

/** The message types the server sends. */
export const FROM_SERVER = Object.freeze(/** @type {const} */ ([
  "welcome", "joined", "peer-joined", "peer-left",
  "offer", "answer", "candidate", "room-closed", "error",
  "client-waiting", "admitted", "ended",
]));

/** @typedef {typeof FROM_BROWSER[number]} BrowserType a type the browser sends */
/** @typedef {typeof FROM_SERVER[number]} ServerType a type the server sends */

/**
 * One frame on the wire.
 * @typedef {object} Envelope
 * @property {BrowserType|ServerType} type the message type
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
 * offer, answer.
 * @typedef {object} SDP
 * @property {string} sdp
 */

/**
 * candidate: an RTCIceCandidateInit; a null candidate ends
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
 * @property {boolean} [takeover] take the seat from another window of this link
 * @property {Check} [check] the client's test summary, shown to the therapist
 */

/**
 * One line of a Check.
 * @typedef {"ok"|"refused"|"missing"|"busy"|"failed"|"untested"} CheckResult
 */

/**
 * The client's summary of its device and connection test.
 * @typedef {object} Check
 * @property {CheckResult} [camera]
 * @property {CheckResult} [microphone]
 * @property {CheckResult} [connection]
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
 * @property {string} [startsAt] the appointment's start, RFC 3339
 * @property {boolean} seatInUse another window holds this link's seat
 */

/**
 * A person in the room.
 * @typedef {object} Peer
 * @property {Role} role
 * @property {string} [name]
 * @property {boolean} [otherDevice] true: the role's link was opened on
 *   another device while the seat's device was away; name is that device's
 */

/**
 * joined: the answer to join.
 * @typedef {object} Joined
 * @property {boolean} polite true for the client (perfect negotiation)
 * @property {string} resume keep in sessionStorage to take the place back
 * @property {Peer|null} peer the other person if already in the call
 * @property {boolean} waiting the client waits for the therapist's admission
 */

/**
 * client-waiting, to the therapist.
 * @typedef {object} ClientWaiting
 * @property {string} [name]
 * @property {boolean} [otherDevice]
 * @property {Check} [check]
 */

/**
 * admitted, to the waiting client.
 * @typedef {object} Admitted
 * @property {Peer|null} peer the therapist
 */

/**
 * ended, to the client.
 * @typedef {object} Ended
 * @property {"therapist"} by
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

/** Every error code in error messages, the fatal ones included. */
export const ERROR_CODES = Object.freeze(/** @type {const} */ ([
  "bad-message", "unknown-type", "too-large", "rate-limited", "already-welcomed",
  "consent-required", "bad-name", "not-joined", "no-peer", "unexpected-answer",
  "already-joined", "seat-taken", "not-therapist", "not-waiting",
  "hello-required", "version-unsupported", "link-invalid", "link-expired",
  "room-full", "replaced", "room-closed", "reclaimed",
]));

/** @typedef {typeof ERROR_CODES[number]} ErrorCode */

/**
 * error: code is machine-readable; message is English for developers and
 * never shown to people.
 * @typedef {object} ErrorData
 * @property {ErrorCode} code
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
  RECLAIMED: 4007,
});

/**
 * The error code for each fatal close code; the page shows the text of that
 * code and does not reconnect.
 * @type {Readonly<Record<number, ErrorCode>>}
 */
export const FATAL_CLOSE = Object.freeze({
  [Close.PROTOCOL]: "hello-required",
  [Close.LINK_INVALID]: "link-invalid",
  [Close.LINK_EXPIRED]: "link-expired",
  [Close.ROOM_FULL]: "room-full",
  [Close.REPLACED]: "replaced",
  [Close.ROOM_CLOSED]: "room-closed",
  [Close.RECLAIMED]: "reclaimed",
});

/**
 * Error codes after which the server closes the connection.
 * @type {ReadonlySet<string>}
 */
export const FATAL_CODES = Object.freeze(new Set([
  "hello-required", "version-unsupported", "link-invalid", "link-expired",
  "room-full", "replaced", "room-closed", "reclaimed",
]));

/**
 * The characters cleanName removes: control characters (Unicode category Cc)
 * and the invisible bidirectional controls that reorder text and could make
 * one name look like another (U+200E, U+200F, U+061C, U+202A-U+202E,
 * U+2066-U+2069).
 */
const NAME_STRIP = /[\p{Cc}\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Whitespace at either end, as Go's strings.TrimSpace sees it: the Unicode
 * White_Space property. (String.prototype.trim also trims U+FEFF, Go does not.)
 */
const NAME_TRIM = /^\p{White_Space}+|\p{White_Space}+$/gu;

/**
 * cleanName strips control and bidirectional formatting characters and then
 * surrounding whitespace, exactly as the server does before it checks the
 * length (signaling/protocol CleanName; both run
 * signaling/protocol/testdata/clean_name_cases.json).
 * @param {string} name
 * @returns {string}
 */
export function cleanName(name) {
  return name.replace(NAME_STRIP, "").replace(NAME_TRIM, "");
}

/**
 * nameFits reports whether a cleaned name is short enough: at most MAX_NAME
 * characters (code points, as the server counts runes).
 * @param {string} name
 * @returns {boolean}
 */
export function nameFits(name) {
  return [...name].length <= MAX_NAME;
}

/**
 * Why checkName refuses a name: "" (fine), "too-long", "marks" (mostly
 * combining marks, or more than MAX_MARK_RUN stacked on one character) or
 * "role" (is, or has a word that is, one of ROLE_WORDS). The server's
 * protocol.CheckName returns the same for the same name.
 * @typedef {"" | "too-long" | "marks" | "role"} NameProblem
 */

/** The most combining marks a name may stack on one character. */
export const MAX_MARK_RUN = 3;

/** Words a name may not be or contain as a word (protocol.RoleWords). */
export const ROLE_WORDS = Object.freeze([
  "therapeut", "therapeutin", "therapist", "klient", "klientin", "client",
  "sprechzimmer", "admin", "administrator", "system",
]);

/**
 * Lower-case Cyrillic and Greek letters that look like Latin ones, and those
 * (protocol's lookAlikes).
 * @type {Readonly<Record<string, string>>}
 */
export const LOOK_ALIKES = Object.freeze({
  "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
  "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ѕ": "s", "ј": "j", "ӏ": "l",
  "α": "a", "β": "b", "ε": "e", "η": "h", "ι": "i", "κ": "k", "μ": "m", "ν": "n",
  "ο": "o", "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ζ": "z",
});

/** A combining mark (Unicode Mn and Me). */
const MARK = /^[\p{Mn}\p{Me}]$/u;
const MARKS = /[\p{Mn}\p{Me}]/gu;

/** What separates the words of a name: anything but letters and marks. */
const NOT_WORD = /[^\p{L}\p{Mn}\p{Me}]+/u;

/**
 * roleForm is how a word is compared with ROLE_WORDS: lower case (code
 * point by code point, as Go's unicode.ToLower), without combining marks,
 * look-alikes replaced.
 * @param {string} word
 * @returns {string}
 */
function roleForm(word) {
  let out = "";
  for (const c of word) {
    for (const l of c.toLowerCase().replace(MARKS, "")) out += LOOK_ALIKES[l] ?? l;
  }
  return out;
}

/**
 * checkName reports what is wrong with a cleaned name (see NameProblem).
 * @param {string} name
 * @returns {NameProblem}
 */
export function checkName(name) {
  const chars = [...name];
  if (chars.length > MAX_NAME) return "too-long";
  let marks = 0;
  let run = 0;
  for (const c of chars) {
    if (!MARK.test(c)) {
      run = 0;
      continue;
    }
    marks++;
    if (++run > MAX_MARK_RUN) return "marks";
  }
  if (2 * marks > chars.length) return "marks";
  const words = name.split(NOT_WORD).filter((w) => w !== "");
  for (const w of [...words, words.join("")]) {
    if (ROLE_WORDS.includes(roleForm(w))) return "role";
  }
  return "";
}
