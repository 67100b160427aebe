// @ts-check
// The call with the other person: one RTCPeerConnection negotiated with the
// perfect negotiation pattern (polite flag from joined), ICE restarts when
// the path breaks.

import { preferVideoCodec } from "./phone.js";
import { withOpusFEC } from "./quality.js";
import { PathKeeper, dtlsRole, otherRole, sendKeyFrame, withSetup } from "./recovery.js";

/**
 * Call is the peer connection to the other person. It dispatches:
 *  - "state": the peer connection's state changed (detail {state})
 *  - "track": detail {stream}, the other person's media
 *  - "channel": detail {channel}, the data channel to the other person's
 *    browser (chat and camera/microphone state; see peerlink.js)
 */
export class Call extends EventTarget {
  /**
   * @param {{send: (type: import("./protocol.js").BrowserType, data: object) => boolean}} signaling
   * @param {boolean} polite
   * @param {RTCIceServer[]} iceServers
   * @param {MediaStream|null} local
   * @param {boolean} offerer true: add the tracks now and offer; false: wait
   *   for the other person's offer and answer with the tracks then. One side
   *   offering first avoids glare on every (re)start of the call; perfect
   *   negotiation still handles later offers from either side.
   */
  constructor(signaling, polite, iceServers, local, offerer) {
    super();
    this.signaling = signaling;
    this.polite = polite;
    this.local = local;
    this.attached = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.remote = new MediaStream();
    /** @type {RTCDataChannel|null} */
    this.channel = null;
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    if (offerer) this.attachLocal();

    pc.ontrack = ({ track }) => {
      this.remote.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: { stream: this.remote } }));
    };
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription();
      } catch (err) {
        console.warn("sprechzimmer: offer failed", /** @type {{name?: string}|undefined} */ (err)?.name);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (this.closed) return;
      this.signaling.send("candidate", candidate ? candidate.toJSON() : { candidate: null });
    };
    // ICE restarts when the path breaks or the network changes (recovery.js).
    this.keeper = new PathKeeper(pc, polite, () => this.sendDescription());
    this.keeper.addEventListener("broken", () => this.reportState());
    this.keeper.addEventListener("restored", (e) => {
      this.reportState();
      // The other side's decoder waits for a key frame (recovery.js); a
      // new encoder begins with one, and switching its encodings off and
      // on while it starts delayed its first frame by seconds (Firefox).
      if (!(/** @type {CustomEvent} */ (e)).detail.newEncoder) void sendKeyFrame(pc);
    });
    pc.onconnectionstatechange = () => this.reportState();
  }

  /**
   * reportState dispatches the call's state: the peer connection's, but
   * "disconnected" while the path keeper finds the path broken.
   */
  reportState() {
    const state = this.keeper.broken && this.pc.connectionState === "connected" ? "disconnected" : this.pc.connectionState;
    this.dispatchEvent(new CustomEvent("state", { detail: { state } }));
  }

  /** attachLocal adds the local tracks, or receive-only slots for missing ones. */
  attachLocal() {
    this.attached = true;
    this.openChannel();
    const local = this.local;
    if (local) for (const track of local.getTracks()) this.pc.addTrack(track, local);
    if (!local?.getVideoTracks().length) this.pc.addTransceiver("video", { direction: "recvonly" });
    if (!local?.getAudioTracks().length) this.pc.addTransceiver("audio", { direction: "recvonly" });
    preferVideoCodec(this.pc);
  }

  /**
   * openChannel makes the data channel to the other browser: negotiated
   * (both sides make id 0), so neither waits for the other's announcement.
   * The offerer makes it before its offer, the answerer once the offer is
   * applied, so it never causes an offer of its own.
   * The "channel" event goes out in a microtask: the offerer makes its
   * channel inside the constructor, before the caller could listen.
   */
  openChannel() {
    if (this.channel) return;
    const channel = this.pc.createDataChannel("sprechzimmer", { negotiated: true, id: 0 });
    this.channel = channel;
    queueMicrotask(() => {
      if (!this.closed) this.dispatchEvent(new CustomEvent("channel", { detail: { channel } }));
    });
  }

  /**
   * offerIfIdle makes this side the offerer when no offer came from the
   * other person; it reports whether it did.
   * @returns {boolean}
   */
  offerIfIdle() {
    if (this.closed || this.attached || this.pc.remoteDescription) return false;
    this.attachLocal();
    return true;
  }

  /**
   * attachToOffer puts the local tracks on the transceivers the first remote
   * offer made, so the answer carries them without another negotiation.
   */
  async attachToOffer() {
    this.attached = true;
    this.openChannel();
    const used = new Set();
    for (const track of this.local?.getTracks() ?? []) {
      const t = this.pc.getTransceivers().find((t) => !used.has(t) && !t.sender.track && t.receiver.track.kind === track.kind);
      if (t) {
        used.add(t);
        t.direction = "sendrecv";
        await t.sender.replaceTrack(track);
        if (this.local) t.sender.setStreams?.(this.local);
      } else if (this.local) {
        this.pc.addTrack(track, this.local);
      }
    }
    preferVideoCodec(this.pc);
  }

  /**
   * handle takes an offer, answer or candidate from the other person.
   * It rejects when the description cannot be applied, for example an offer
   * from a new peer connection of the other side after its reload; the caller
   * then starts a new Call.
   * @param {"offer"|"answer"|"candidate"} type
   * @param {any} data
   */
  async handle(type, data) {
    const pc = this.pc;
    if (type === "candidate") {
      try {
        await pc.addIceCandidate(data?.candidate == null ? null : data);
      } catch (err) {
        if (!this.ignoreOffer) console.warn("sprechzimmer: candidate refused", /** @type {{name?: string}|undefined} */ (err)?.name);
      }
      return;
    }
    if (type === "offer" && sameOffer(data.sdp, pc.remoteDescription?.sdp)) {
      // The other side sent its offer again (recovery.js: the answer came
      // late). Applying it again would make a new answer for a description
      // already agreed; the answer given stands.
      if (pc.signalingState === "stable") this.sendDescription();
      return;
    }
    const offerCollision = type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) return;
    if (type === "answer" && pc.signalingState !== "have-local-offer") return;
    if (type === "offer" && pc.remoteDescription && fingerprints(data.sdp) !== fingerprints(pc.remoteDescription.sdp)) {
      // Another peer connection of the other side (it reloaded or its
      // server connection came back). Firefox would take the offer and
      // never finish the handshake; the caller starts a new Call.
      throw new Error("offer from a new peer connection");
    }
    // A renegotiation (an ICE restart) keeps the DTLS roles (recovery.js).
    const role = dtlsRole(pc.currentLocalDescription?.sdp, pc.currentRemoteDescription?.sdp);
    const sdp = withoutStrayCodecLines(data.sdp);
    await pc.setRemoteDescription({ type, sdp: type === "answer" ? withSetup(sdp, otherRole(role)) : sdp });
    if (type === "offer") {
      if (!this.attached) await this.attachToOffer();
      if (role) {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription({ type: "answer", sdp: withSetup(answer.sdp ?? "", role) });
      } else {
        await pc.setLocalDescription();
      }
      this.sendDescription();
    }
  }

  /**
   * sendDescription sends the local description with its own type: when an
   * offer arrived while negotiationneeded was on its way, the implicit
   * setLocalDescription there makes an answer, not an offer.
   */
  sendDescription() {
    const desc = this.pc.localDescription;
    if (this.closed || !desc || (desc.type !== "offer" && desc.type !== "answer")) return;
    // Opus in-band FEC is the receiver's to ask for: the other side's
    // encoder reads it from this description.
    this.signaling.send(desc.type, { sdp: withOpusFEC(desc.sdp) });
  }

  /**
   * replaceTrack puts a new local track of the same kind on the call.
   * @param {MediaStreamTrack} track
   */
  async replaceTrack(track) {
    for (const sender of this.pc.getSenders()) {
      if (sender.track?.kind === track.kind) await sender.replaceTrack(track);
    }
  }

  /** close ends the peer connection. */
  close() {
    this.closed = true;
    this.keeper.close();
    this.pc.close();
    this.dispatchEvent(new CustomEvent("state", { detail: { state: "closed" } }));
  }
}

/**
 * fingerprints lists the DTLS certificate fingerprints of an SDP: one peer
 * connection keeps its certificate for its whole life.
 * @param {string} sdp
 * @returns {string}
 */
export function fingerprints(sdp) {
  return [...new Set(sdp.match(/^a=fingerprint:.*$/gm) ?? [])].map((l) => l.trim().toLowerCase()).sort().join("\n");
}

/**
 * sameOffer tells whether offer is the description remote already is, sent
 * again: the same origin line (o=), whose session version the other side's
 * browser raises with every new description; candidates found since may
 * have been added.
 * @param {string} offer
 * @param {string|undefined} remote
 * @returns {boolean}
 */
export function sameOffer(offer, remote) {
  const origin = (/** @type {string|undefined} */ sdp) => /^o=.*$/m.exec(sdp ?? "")?.[0].trim() ?? "";
  return origin(offer) !== "" && origin(offer) === origin(remote);
}

/**
 * withoutStrayCodecLines drops the rtpmap, fmtp and rtcp-fb lines of an
 * SDP's media sections that name a payload type the section's m= line does
 * not list. Firefox's offer for an ICE restart keeps the feedback lines of
 * codecs the first negotiation left out (a=rtcp-fb:96 nack for a video
 * section offering 120 121 99 ...), and Chromium refuses such a description
 * whole ("Failed to parse codecs correctly"), so a Firefox therapist's call
 * with a Chromium client never came back after a network change. The lines
 * say nothing about a codec that is not offered; a=rtcp-fb:* stays.
 * @param {string} sdp
 * @returns {string}
 */
export function withoutStrayCodecLines(sdp) {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  /** @type {Set<string>|null} payload types of the current RTP section */
  let offered = null;
  const kept = sdp.split(eol).filter((line) => {
    const media = /^m=\S+ \S+ \S*RTP\S* (.*)$/.exec(line);
    if (media) offered = new Set(media[1].trim().split(/\s+/));
    else if (line.startsWith("m=")) offered = null;
    const codecLine = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)[ \t]/.exec(line);
    return !offered || !codecLine || offered.has(codecLine[1]);
  });
  return kept.join(eol);
}
