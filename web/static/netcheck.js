// @ts-check
// The network check: a call whose browsers find no path to each other
// (typically a network that lets only web traffic out and blocks even TURN
// over TLS on port 443) would say "connecting" for ever. NetCheck watches
// the call's peer connection and, within seconds, says plainly that the
// network is the problem and what the person can try; once the call
// connects the message goes, and the check ends (a later break of a call
// that had a path is the reconnect's to handle).

import { hasTURN } from "./conntest.js";

/**
 * How long the call may go without a relay candidate, where TURN servers
 * were given, before the page says this network blocks it. A reachable
 * TURN server answers within a second or two, also over TLS.
 */
export const NO_RELAY_MS = 7000;

/** How long the call may stay unconnected before the page says so. */
export const NO_PATH_MS = 11000;

/**
 * @typedef {"blocked"|"no-path"} Problem blocked: this browser reached no
 *   TURN server at all (its own network); no-path: it did, yet no path to
 *   the other person came about (either side's network)
 */

/**
 * verdict decides what to say about a call that is not connected.
 * @param {{turn: boolean, relay: boolean, gathered: boolean, failed: boolean, elapsedMs: number}} s
 *   turn: TURN servers were given; relay: a relay candidate was gathered;
 *   gathered: gathering ended; failed: ICE failed; elapsedMs: since the
 *   call started
 * @returns {Problem|null}
 */
export function verdict(s) {
  const noRelay = s.turn && !s.relay;
  if (noRelay && (s.gathered || s.failed || s.elapsedMs >= NO_RELAY_MS)) return "blocked";
  if (s.failed || s.elapsedMs >= NO_PATH_MS) return noRelay ? "blocked" : "no-path";
  return null;
}

/**
 * NetCheck shows the network message in an element (a role="alert" live
 * region, so screen readers announce it) and sets body data-network to the
 * problem while it shows.
 */
export class NetCheck {
  /**
   * @param {HTMLElement} box the element for the message
   * @param {(key: any) => string} t the page's translation
   */
  constructor(box, t) {
    this.box = box;
    this.t = t;
    /** @type {(() => void)|null} */
    this.stopWatching = null;
  }

  /**
   * watch follows pc, a call that starts now, with iceServers.
   * @param {RTCPeerConnection} pc
   * @param {RTCIceServer[]} iceServers
   */
  watch(pc, iceServers) {
    this.stop();
    const started = performance.now();
    const s = { turn: hasTURN(iceServers), relay: false, gathered: false, failed: false, elapsedMs: 0 };
    const check = () => {
      if (pc.connectionState === "connected" || pc.connectionState === "closed") {
        // A path exists: later breaks are the reconnect's to handle.
        this.stop();
        return;
      }
      s.gathered = pc.iceGatheringState === "complete";
      s.failed = pc.iceConnectionState === "failed" || pc.connectionState === "failed";
      s.elapsedMs = performance.now() - started;
      // Once shown it stays until the call connects or ends.
      if (!document.body.dataset.network) this.show(verdict(s));
    };
    const onCandidate = (/** @type {RTCPeerConnectionIceEvent} */ ev) => {
      if (/ typ relay /.test(ev.candidate?.candidate ?? "")) s.relay = true;
      check();
    };
    const events = ["icegatheringstatechange", "iceconnectionstatechange", "connectionstatechange"];
    pc.addEventListener("icecandidate", onCandidate);
    for (const e of events) pc.addEventListener(e, check);
    const timer = setInterval(check, 500);
    this.stopWatching = () => {
      clearInterval(timer);
      pc.removeEventListener("icecandidate", onCandidate);
      for (const e of events) pc.removeEventListener(e, check);
    };
  }

  /** stop ends watching and takes the message away. */
  stop() {
    this.stopWatching?.();
    this.stopWatching = null;
    this.show(null);
  }

  /**
   * show shows the message for problem, or none.
   * @param {Problem|null} problem
   */
  show(problem) {
    const was = document.body.dataset.network ?? "";
    if (was === (problem ?? "")) return;
    document.body.dataset.network = problem ?? "";
    this.box.hidden = !problem;
    this.box.replaceChildren();
    if (!problem) return;
    const p = (/** @type {string} */ key) => Object.assign(document.createElement("p"), { textContent: this.t(key) });
    const list = document.createElement("ul");
    for (const key of ["network.tryOther", "network.tryMobile", "network.tryIT"]) {
      list.append(Object.assign(document.createElement("li"), { textContent: this.t(key) }));
    }
    this.box.append(p(problem === "blocked" ? "network.blocked" : "network.noPath"), p("network.try"), list);
  }
}
