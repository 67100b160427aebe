// @ts-check
// The messages the two browsers exchange directly over the call's
// RTCDataChannel: each side's camera and microphone state and the chat.
// Nothing of this passes through any server (the channel is part of the
// peer-to-peer DTLS connection), and nothing is stored.

/**
 * A message on the channel.
 * @typedef {{t: "state", camera: boolean, microphone: boolean} | {t: "chat", text: string}} LinkMessage
 */

/** The longest chat message, in characters. */
export const MAX_CHAT = 1000;

/**
 * PeerLink sends and receives LinkMessages over a data channel. It
 * dispatches:
 *  - "open": the channel is open (send the own state now)
 *  - "state": detail {camera, microphone}, the other person's devices (true: on)
 *  - "chat": detail {text}, a chat message from the other person
 */
export class PeerLink extends EventTarget {
  /** @param {RTCDataChannel} channel */
  constructor(channel) {
    super();
    this.channel = channel;
    channel.addEventListener("open", () => this.dispatchEvent(new CustomEvent("open")));
    channel.addEventListener("message", (ev) => this.receive(ev.data));
  }

  /** @returns {boolean} */
  get open() { return this.channel.readyState === "open"; }

  /**
   * @param {unknown} raw
   */
  receive(raw) {
    let m;
    try {
      m = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (m?.t === "state") {
      this.dispatchEvent(new CustomEvent("state", { detail: { camera: m.camera !== false, microphone: m.microphone !== false } }));
    } else if (m?.t === "chat" && typeof m.text === "string" && m.text.trim()) {
      this.dispatchEvent(new CustomEvent("chat", { detail: { text: m.text.slice(0, MAX_CHAT) } }));
    }
  }

  /**
   * send sends one message if the channel is open; it reports whether it did.
   * @param {LinkMessage} m
   * @returns {boolean}
   */
  send(m) {
    if (!this.open) return false;
    this.channel.send(JSON.stringify(m));
    return true;
  }
}
