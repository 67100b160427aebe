// @ts-check
// Keeping the call's media path when the network changes: an ICE restart
// (pc.restartIce(), which makes the next offer an iceRestart offer through
// the signaling server) as soon as the path is found broken, and again
// while it stays broken, so the call comes back without a reload.
//
// The path counts as broken when
//  - ICE says "failed" (at once) or "disconnected" (after a short grace),
//  - media stopped arriving while ICE still says "connected" (a browser
//    notices a dead path only after several seconds of missed checks;
//    Chromium keeps saying "connected" until consent freshness fails, some
//    5 s; the packet counters notice it sooner), or
//  - the device says its network changed ("online", navigator.connection
//    "change"): the old path is likely gone with the old address.
//
// One restart at a time: a restart under way (made by either side: a new
// ICE username fragment in the other side's description) is given
// RETRY_MS to bring the path back before this side makes another one. A
// new restart throws away the candidates and checks of the one before, so
// restarting on top of a restart that needs a little longer (a slow new
// path, a busy machine) only starts the wait again; before this rule the
// polite side's own restart, a second after the other side's, undid it
// in about one address change out of three (docs/benchmarks.md).
//
// No iceCandidatePoolSize: candidates gathered before the change would be
// relay allocations at the old address, dead after it.

/** How long "disconnected" may last before a restart (it often heals). */
export const DISCONNECTED_GRACE_MS = 1000;
/** No media packet for this long on a path that carried media: broken. */
export const STALL_MS = 1000;
/** How often the packet counters are read. */
export const SAMPLE_MS = 250;
/**
 * How long a restart under way is given before the next one, by the
 * number of restarts since the path broke (the last one repeats): a
 * restart takes a new relay allocation, permissions and connectivity
 * checks, well under a second on a good path, more on a slow one.
 */
export const RETRY_MS = [2000, 3000, 4000];
/**
 * The polite side waits this much longer before it restarts on its own, so
 * that both sides noticing the same break do not offer at once (the
 * impolite side's restart offer covers both).
 */
export const POLITE_DELAY_MS = 500;
/**
 * How long this side's own restart offer may wait for its answer before it
 * is sent again. The signaling server passes every message on, so an offer
 * goes unanswered only when the other side could not take it (for one
 * ignored in glare, the other side's offer follows); a slow answer (Firefox
 * on a busy machine took over 2 s) must not be taken for a lost one: the
 * other side then answered the same offer twice.
 */
export const ANSWER_WAIT_MS = 5000;

/**
 * restartDelay tells how long this side waits before its next ICE restart
 * (or, while its own offer is unanswered, before it sends that offer again)
 * once the path is broken.
 * @param {{polite: boolean, ice: RTCIceConnectionState, failed: boolean, stalledMs: number, sinceRestartMs: number, attempt: number, offerPending?: boolean}} s
 *   polite: this side's role; ice: the ICE connection state; failed: ICE
 *   went to "failed" after the last restart began (or with none); stalledMs:
 *   how long no media packet arrived; sinceRestartMs: since the last
 *   restart by either side began (Infinity: none); attempt: restarts by
 *   either side since the path broke, the one under way included;
 *   offerPending: this side's offer awaits its answer
 * @returns {number} milliseconds
 */
export function restartDelay(s) {
  // An offer awaiting its answer gets ANSWER_WAIT_MS: ICE can do nothing
  // new before the answer. A restart under way gets its time, unless ICE
  // already gave it up.
  if (s.offerPending) return Math.max(0, ANSWER_WAIT_MS - s.sinceRestartMs);
  const given = RETRY_MS[Math.min(Math.max(s.attempt - 1, 0), RETRY_MS.length - 1)];
  let wait = s.failed ? 0 : Math.max(0, given - s.sinceRestartMs);
  if (s.ice === "disconnected" && s.stalledMs < STALL_MS) wait = Math.max(wait, DISCONNECTED_GRACE_MS);
  return wait + (s.polite ? POLITE_DELAY_MS : 0);
}

/**
 * iceUfrag is the first ICE username fragment of an SDP ("" if none): new
 * on every ICE restart.
 * @param {string|undefined} sdp
 * @returns {string}
 */
export function iceUfrag(sdp) {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp ?? "")?.[1] ?? "";
}

/**
 * isBroken tells from one reading whether the path counts as broken.
 * @param {{ice: RTCIceConnectionState, stalledMs: number, flowed: boolean}} r
 *   ice: the ICE connection state; stalledMs: how long no media packet
 *   arrived; flowed: media arrived on this path before
 * @returns {boolean}
 */
export function isBroken(r) {
  if (r.ice === "failed" || r.ice === "disconnected") return true;
  return (r.ice === "connected" || r.ice === "completed") && r.flowed && r.stalledMs >= STALL_MS;
}

/**
 * packetsIn sums the media packets received, from a getStats report.
 * @param {RTCStatsReport} stats
 * @returns {number}
 */
export function packetsIn(stats) {
  return sumOf(stats, "packetsReceived", (r) => r.type === "inbound-rtp");
}

/**
 * framesSent sums the video frames encoded, from a getStats report.
 * @param {RTCStatsReport} stats
 * @returns {number}
 */
export function framesSent(stats) {
  return sumOf(stats, "framesEncoded", (r) => r.type === "outbound-rtp" && r.kind === "video");
}

/**
 * sumOf sums one counter over the statistics that match.
 * @param {RTCStatsReport} stats
 * @param {string} counter
 * @param {(r: any) => boolean} match
 * @returns {number}
 */
function sumOf(stats, counter, match) {
  let n = 0;
  stats.forEach((r) => {
    if (match(r)) n += r[counter] || 0;
  });
  return n;
}

/**
 * PathKeeper watches one peer connection and restarts ICE when its path
 * breaks. It dispatches:
 *  - "broken": the path broke; a restart is on its way (show "reconnecting")
 *  - "restored": media arrives again over a connected path; detail
 *    {newEncoder}: this side's video encoder began anew meanwhile (its
 *    frame counter started from zero again), so its first frame is a key
 *    frame already
 */
export class PathKeeper extends EventTarget {
  /**
   * @param {RTCPeerConnection} pc
   * @param {boolean} polite the polite side of perfect negotiation
   * @param {() => void} resend sends the current local offer again
   */
  constructor(pc, polite, resend) {
    super();
    this.pc = pc;
    this.polite = polite;
    this.resend = resend;
    this.broken = false;
    /** Restarts this side made (the test hook reads it). */
    this.restarts = 0;
    /** Restarts by either side since the path broke. */
    this.attempt = 0;
    /** When the last restart by either side began (performance.now()). */
    this.restartedAt = -Infinity;
    /** When ICE last went to "failed" (performance.now()). */
    this.failedAt = -Infinity;
    /** This side restarted and waits for the answer. */
    this.ownRestart = false;
    this.remoteUfrag = iceUfrag(pc.remoteDescription?.sdp);
    this.flowed = false;
    this.packets = 0;
    this.lastPacketAt = performance.now();
    /** Video frames this side encoded, at the last reading. */
    this.sent = 0;
    /** This side's video encoder began anew since the path broke. */
    this.newEncoder = false;
    this.timer = 0;
    this.sampling = false;
    /** @type {RTCIceConnectionState} */
    this.lastIce = pc.iceConnectionState;
    this.onIce = () => this.check();
    this.onSignaling = () => this.noteRemoteRestart();
    this.onNetwork = () => this.restartNow();
    pc.addEventListener("iceconnectionstatechange", this.onIce);
    pc.addEventListener("signalingstatechange", this.onSignaling);
    window.addEventListener("online", this.onNetwork);
    connection()?.addEventListener("change", this.onNetwork);
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
  }

  /** sample reads the packet counters and checks the path. */
  async sample() {
    if (this.sampling || this.pc.signalingState === "closed") return;
    this.sampling = true;
    try {
      const stats = await this.pc.getStats();
      const n = packetsIn(stats);
      const sent = framesSent(stats);
      const now = performance.now();
      if (n > this.packets) {
        this.flowed = true;
        this.lastPacketAt = now;
      }
      // A restarted transport may count from zero again; a video sender
      // that does began with a new encoder.
      if (sent < this.sent) this.newEncoder = true;
      this.packets = n;
      this.sent = sent;
    } catch {
      // closed meanwhile
    } finally {
      this.sampling = false;
    }
    this.check();
  }

  /** check compares the path's state with what was known and acts. */
  check() {
    const pc = this.pc;
    if (pc.signalingState === "closed") return;
    const becameFailed = pc.iceConnectionState === "failed" && this.lastIce !== "failed";
    if (becameFailed) this.failedAt = performance.now();
    this.lastIce = pc.iceConnectionState;
    const broken = isBroken({ ice: pc.iceConnectionState, stalledMs: performance.now() - this.lastPacketAt, flowed: this.flowed });
    if (broken && !this.broken) {
      this.broken = true;
      this.attempt = 0;
      this.newEncoder = false;
      this.dispatchEvent(new CustomEvent("broken"));
      this.schedule();
    } else if (!broken && this.broken && (pc.iceConnectionState === "connected" || pc.iceConnectionState === "completed")
      && performance.now() - this.lastPacketAt < STALL_MS) {
      this.broken = false;
      clearTimeout(this.timer);
      this.timer = 0;
      this.dispatchEvent(new CustomEvent("restored", { detail: { newEncoder: this.newEncoder } }));
    } else if (broken && becameFailed) {
      // A restart that failed, or a grace that ended in failure: at once.
      this.schedule();
    }
  }

  /**
   * noteRemoteRestart notices a restart of the other side (or its answer
   * to ours): a description with a new ICE username fragment. That
   * restart gets its time before this side makes another.
   */
  noteRemoteRestart() {
    const pc = this.pc;
    if (pc.signalingState !== "stable") return;
    const ufrag = iceUfrag(pc.remoteDescription?.sdp);
    if (!ufrag || ufrag === this.remoteUfrag) return;
    const first = !this.remoteUfrag;
    this.remoteUfrag = ufrag;
    if (first) return;
    this.restartedAt = performance.now();
    if (!this.ownRestart) this.attempt++;
    this.ownRestart = false;
    if (this.broken) this.schedule();
  }

  /**
   * schedule (re)sets the timer of the next restart (restartDelay), which
   * does nothing if the path is back by then.
   */
  schedule() {
    const pc = this.pc;
    const now = performance.now();
    const wait = restartDelay({
      polite: this.polite, ice: pc.iceConnectionState, failed: this.failedAt > this.restartedAt, stalledMs: now - this.lastPacketAt,
      sinceRestartMs: now - this.restartedAt, attempt: this.attempt, offerPending: pc.signalingState === "have-local-offer",
    });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = 0;
      if (!this.broken || pc.signalingState === "closed") return;
      if (pc.signalingState !== "have-local-offer") {
        this.restart();
      } else if (performance.now() - this.restartedAt >= ANSWER_WAIT_MS) {
        // The last offer got no answer: lost, or ignored by the other side
        // while its own went astray. Both sides sending theirs again ends
        // it: perfect negotiation takes the impolite side's, and a side
        // that answered it already answers the same again (call.js).
        this.resend();
        this.restartedAt = performance.now();
      }
      this.schedule();
    }, wait);
  }

  /** restartNow restarts at once: the device's network changed. */
  restartNow() {
    if (this.pc.signalingState === "closed") return;
    // Media that arrived before the change says nothing about the new path.
    this.lastPacketAt = performance.now();
    this.restart();
    if (this.broken) this.schedule();
  }

  /** restart asks for an ICE restart; the next offer carries it. */
  restart() {
    this.restarts++;
    this.attempt++;
    this.ownRestart = true;
    this.restartedAt = performance.now();
    this.pc.restartIce();
  }

  /** close stops watching. */
  close() {
    clearInterval(this.sampler);
    clearTimeout(this.timer);
    this.pc.removeEventListener("iceconnectionstatechange", this.onIce);
    this.pc.removeEventListener("signalingstatechange", this.onSignaling);
    window.removeEventListener("online", this.onNetwork);
    connection()?.removeEventListener("change", this.onNetwork);
  }
}

/**
 * sendKeyFrame makes every video sender of pc begin again with a key frame,
 * for a path that was just restored: the other side's decoder lost frames
 * while the path was broken and decodes nothing until a key frame. Its
 * browser asks for one (PLI) only now and then, 1.4-3 s apart in Chromium,
 * and the requests made while the path was down are lost: in traced
 * address changes the video came back 1.1-3 s after the media packets did
 * (docs/benchmarks.md). There is no RTCRtpSender.generateKeyFrame
 * (Chromium 156, Firefox 153); switching an encoding off and on again
 * makes both engines' encoders start with a key frame.
 * @param {RTCPeerConnection} pc
 */
export async function sendKeyFrame(pc) {
  for (const sender of pc.getSenders()) {
    if (sender.track?.kind !== "video") continue;
    try {
      await restartEncoding(sender);
    } catch (err) {
      console.warn("sprechzimmer: key frame", /** @type {{name?: string}|undefined} */ (err)?.name);
    }
  }
}

/**
 * restartEncoding switches a sender's encodings off and on again; one
 * that is off already (not negotiated, or switched off) stays as it is.
 * Each step reads the parameters anew, so that it keeps what quality.js
 * set meanwhile.
 * @param {RTCRtpSender} sender
 */
async function restartEncoding(sender) {
  const now = sender.getParameters();
  if (!now.encodings?.length || now.encodings.some((e) => e.active === false)) return;
  await setActive(sender, false);
  // Never leave the video off: a change by quality.js in between makes a
  // try fail (its parameters are stale), the next one reads them anew.
  for (let attempt = 1; ; attempt++) {
    try {
      await setActive(sender, true);
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/**
 * setActive switches all encodings of a sender on or off.
 * @param {RTCRtpSender} sender
 * @param {boolean} active
 */
async function setActive(sender, active) {
  const params = sender.getParameters();
  for (const e of params.encodings) e.active = active;
  await sender.setParameters(params);
}

/**
 * connection is the Network Information API's object where the browser has
 * it (Chromium; not Firefox or Safari).
 * @returns {EventTarget|undefined}
 */
function connection() {
  return /** @type {{connection?: EventTarget}} */ (navigator).connection;
}

/**
 * dtlsRole is this side's DTLS role ("active": client, "passive": server)
 * after the last completed negotiation, or "" before the first. An ICE
 * restart keeps the DTLS connection, so a restart's answer must keep the
 * roles: Firefox, answering a restart offer, says "a=setup:active" even
 * where it is the DTLS server; Chromium refuses such an answer ("Failed
 * to set SSL role for the transport"), and the call between the two did
 * not settle after a restart Chromium offered (withSetup fixes both ends).
 * @param {string|undefined} currentLocal the last agreed local description
 * @param {string|undefined} currentRemote the last agreed remote description
 * @returns {"active"|"passive"|""}
 */
export function dtlsRole(currentLocal, currentRemote) {
  const setup = (/** @type {string|undefined} */ sdp) => /^a=setup:(\w+)/m.exec(sdp ?? "")?.[1];
  const own = setup(currentLocal);
  if (own === "active" || own === "passive") return own;
  // This side offered actpass: its role is the one the answer left it.
  const other = setup(currentRemote);
  return other === "active" ? "passive" : other === "passive" ? "active" : "";
}

/**
 * withSetup sets every a=setup:active/passive of an answer to role ("":
 * unchanged).
 * @param {string} sdp
 * @param {"active"|"passive"|""} role
 * @returns {string}
 */
export function withSetup(sdp, role) {
  return role ? sdp.replace(/^a=setup:(?:active|passive)(?=\r?$)/gm, `a=setup:${role}`) : sdp;
}

/**
 * otherRole is the DTLS role of the other side of one with role.
 * @param {"active"|"passive"|""} role
 * @returns {"active"|"passive"|""}
 */
export function otherRole(role) {
  return role === "active" ? "passive" : role === "passive" ? "active" : "";
}
