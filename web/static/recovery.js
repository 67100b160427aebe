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
//    the packet counters notice it sooner), or
//  - the device says its network changed ("online", navigator.connection
//    "change"): the old path is likely gone with the old address.

/** How long "disconnected" may last before a restart (it often heals). */
export const DISCONNECTED_GRACE_MS = 1000;
/** No media packet for this long on a path that carried media: broken. */
export const STALL_MS = 1500;
/** How often the packet counters are read. */
export const SAMPLE_MS = 250;
/** A restart that has not brought the path back is repeated after this. */
export const RETRY_MS = 2000;
/**
 * The polite side waits this much longer before it restarts on its own, so
 * that both sides noticing the same break do not offer at once (the
 * impolite side's restart offer covers both).
 */
export const POLITE_DELAY_MS = 1000;

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
  let n = 0;
  stats.forEach((r) => {
    if (r.type === "inbound-rtp") n += r.packetsReceived || 0;
  });
  return n;
}

/**
 * PathKeeper watches one peer connection and restarts ICE when its path
 * breaks. It dispatches:
 *  - "broken": the path broke; a restart is on its way (show "reconnecting")
 *  - "restored": media arrives again over a connected path
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
    this.restarts = 0;
    this.flowed = false;
    this.packets = 0;
    this.lastPacketAt = performance.now();
    this.timer = 0;
    this.sampling = false;
    /** @type {RTCIceConnectionState} */
    this.lastIce = pc.iceConnectionState;
    this.onIce = () => this.check();
    this.onNetwork = () => this.restartNow();
    pc.addEventListener("iceconnectionstatechange", this.onIce);
    window.addEventListener("online", this.onNetwork);
    connection()?.addEventListener("change", this.onNetwork);
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
  }

  /** sample reads the packet counters and checks the path. */
  async sample() {
    if (this.sampling || this.pc.signalingState === "closed") return;
    this.sampling = true;
    try {
      const n = packetsIn(await this.pc.getStats());
      const now = performance.now();
      if (n > this.packets) {
        this.flowed = true;
        this.lastPacketAt = now;
      }
      // A restarted transport may count from zero again.
      this.packets = n;
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
    this.lastIce = pc.iceConnectionState;
    const broken = isBroken({ ice: pc.iceConnectionState, stalledMs: performance.now() - this.lastPacketAt, flowed: this.flowed });
    if (broken && !this.broken) {
      this.broken = true;
      this.dispatchEvent(new CustomEvent("broken"));
      const wait = (pc.iceConnectionState === "failed" ? 0 : pc.iceConnectionState === "disconnected" ? DISCONNECTED_GRACE_MS : 0)
        + (this.polite ? POLITE_DELAY_MS : 0);
      this.schedule(wait);
    } else if (!broken && this.broken && (pc.iceConnectionState === "connected" || pc.iceConnectionState === "completed")
      && performance.now() - this.lastPacketAt < STALL_MS) {
      this.broken = false;
      clearTimeout(this.timer);
      this.timer = 0;
      this.dispatchEvent(new CustomEvent("restored"));
    } else if (broken && becameFailed) {
      // A restart that failed, or a grace that ended in failure: at once.
      this.schedule(this.polite ? POLITE_DELAY_MS : 0);
    }
  }

  /**
   * schedule restarts ICE after ms unless the path is back by then, and
   * again every RETRY_MS while it stays broken.
   * @param {number} ms
   */
  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = 0;
      if (!this.broken || this.pc.signalingState === "closed") return;
      if (this.pc.signalingState === "have-local-offer") {
        // The last offer got no answer: lost, or ignored by the other side
        // while its own went astray. Both sides sending theirs again ends
        // it: perfect negotiation takes the impolite side's.
        this.resend();
      } else {
        this.restart();
      }
      this.schedule(RETRY_MS);
    }, ms);
  }

  /** restartNow restarts at once: the device's network changed. */
  restartNow() {
    if (this.pc.signalingState === "closed") return;
    // Media that arrived before the change says nothing about the new path.
    this.lastPacketAt = performance.now();
    this.restart();
  }

  /** restart asks for an ICE restart; the next offer carries it. */
  restart() {
    this.restarts++;
    this.pc.restartIce();
  }

  /** close stops watching. */
  close() {
    clearInterval(this.sampler);
    clearTimeout(this.timer);
    this.pc.removeEventListener("iceconnectionstatechange", this.onIce);
    window.removeEventListener("online", this.onNetwork);
    connection()?.removeEventListener("change", this.onNetwork);
  }
}

/**
 * connection is the Network Information API's object where the browser has
 * it (Chromium; not Firefox or Safari).
 * @returns {EventTarget|undefined}
 */
function connection() {
  return /** @type {{connection?: EventTarget}} */ (navigator).connection;
}
