// @ts-check
// Call quality: what getStats says about the line in both directions, in
// plain words, and the adaptation of the own video to it (smaller picture,
// fewer frames, lower bitrate; below a floor "audio only").
//
// The decisions are pure functions (measure, levelOf, decide, toggleAudioOnly,
// withOpusFEC) so that the tests can run them on tables of stats; the
// QualityMonitor only reads stats once a second, feeds them through and
// applies the result to the page and the peer connection.

/** @typedef {"unknown"|"good"|"weak"|"very-weak"} Level */

/**
 * Measure is what one direction of the call did over the last interval.
 * null means "not known in this interval".
 * @typedef {object} Measure
 * @property {number|null} rttMs round trip time of the path
 * @property {number|null} lossPct packets lost, the worst of audio and video
 * @property {number|null} bitrateKbps available outgoing bitrate (send only)
 * @property {number|null} fps video frames decoded (receive) or sent per second
 * @property {number|null} droppedPct video frames dropped of those received (receive only)
 * @property {boolean} video video packets moved in this interval
 */

/**
 * Thresholds of the levels (docs/browser-client.md, "Call quality").
 * Loss is in percent of packets, round trip in milliseconds, bitrate in
 * kbit/s, frames per second.
 */
export const THRESHOLDS = Object.freeze({
  weak: Object.freeze({ lossPct: 4, rttMs: 400, fps: 4, droppedPct: 20 }),
  veryWeak: Object.freeze({ lossPct: 15, rttMs: 1000, bitrateKbps: 60 }),
  /** fewer packets than this in an interval say nothing about loss */
  minPackets: 10,
});

/**
 * STEPS are the video sender's settings, from full quality (0) down to the
 * floor (the last). Below the floor only "audio only" helps.
 */
export const STEPS = Object.freeze([
  Object.freeze({ scaleResolutionDownBy: 1, maxFramerate: null, maxBitrate: null }),
  Object.freeze({ scaleResolutionDownBy: 2, maxFramerate: 15, maxBitrate: 350_000 }),
  Object.freeze({ scaleResolutionDownBy: 4, maxFramerate: 8, maxBitrate: 120_000 }),
]);

/**
 * HYSTERESIS in samples (one a second): a worse level counts after `down`
 * samples in a row, a better one after `up`; the video steps up one step per
 * `up` good samples; "audio only" comes by itself after `audioOnlyAfter`
 * samples of a very weak line.
 */
export const HYSTERESIS = Object.freeze({ down: 2, up: 5, audioOnlyAfter: 8 });

/** How often the monitor reads the stats. */
export const INTERVAL_MS = 1000;

/** How many readings make the window that rates are taken over (5 s). */
export const WINDOW = 6;

/** @type {Record<Level, number>} */
const RANK = { "unknown": 0, "good": 1, "weak": 2, "very-weak": 3 };

/**
 * worse returns the worse of two levels.
 * @param {Level} a
 * @param {Level} b
 * @returns {Level}
 */
export function worse(a, b) {
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * measure looks at readings of RTCPeerConnection.getStats (each its values
 * as an array, e.g. [...report.values()]), oldest first, and returns what
 * each direction did from the first to the last: receive from inbound-rtp,
 * send from remote-inbound-rtp (the other person's browser's receiver
 * reports: the mean loss of the reports in the window), the selected
 * candidate pair and outbound-rtp. A window of a few seconds holds enough
 * packets for a loss figure; one reading gives no rates yet.
 * @param {any[][]} readings
 * @returns {{receive: Measure, send: Measure}}
 */
export function measure(readings) {
  const cur = readings[readings.length - 1] ?? [];
  const prev = readings.length > 1 ? readings[0] : [];
  /** @type {Map<string, any>} */
  const before = new Map(prev.map((r) => [r.id, r]));
  const delta = (/** @type {any} */ r, /** @type {string} */ field) => {
    const p = before.get(r.id);
    if (!p || typeof r[field] !== "number" || typeof p[field] !== "number") return null;
    return r[field] - p[field];
  };
  const seconds = (/** @type {any} */ r) => {
    const p = before.get(r.id);
    return p ? (r.timestamp - p.timestamp) / 1000 : 0;
  };

  // The path: the selected candidate pair's round trip time.
  let pairRtt = null;
  let bitrate = null;
  const byId = new Map(cur.map((r) => [r.id, r]));
  for (const t of cur.filter((r) => r.type === "transport" && r.selectedCandidatePairId)) {
    const pair = byId.get(t.selectedCandidatePairId);
    if (typeof pair?.currentRoundTripTime === "number") pairRtt = pair.currentRoundTripTime * 1000;
    if (typeof pair?.availableOutgoingBitrate === "number") bitrate = pair.availableOutgoingBitrate / 1000;
  }
  if (pairRtt === null) {
    // Firefox has no transport stats: the nominated, succeeded pair.
    const pair = cur.find((r) => r.type === "candidate-pair" && r.nominated && r.state === "succeeded");
    if (typeof pair?.currentRoundTripTime === "number") pairRtt = pair.currentRoundTripTime * 1000;
    if (typeof pair?.availableOutgoingBitrate === "number") bitrate = pair.availableOutgoingBitrate / 1000;
  }

  /** @type {Measure} */
  const receive = { rttMs: pairRtt, lossPct: null, bitrateKbps: null, fps: null, droppedPct: null, video: false };
  for (const r of cur.filter((r) => r.type === "inbound-rtp")) {
    const got = delta(r, "packetsReceived");
    const lost = delta(r, "packetsLost");
    if (got !== null && lost !== null && got + lost >= THRESHOLDS.minPackets) {
      receive.lossPct = Math.max(receive.lossPct ?? 0, (100 * Math.max(0, lost)) / (got + Math.max(0, lost)));
    }
    if (r.kind === "video" && got) {
      receive.video = true;
      const decoded = delta(r, "framesDecoded") ?? 0;
      const dropped = delta(r, "framesDropped") ?? 0;
      const s = seconds(r);
      if (s > 0) receive.fps = (receive.fps ?? 0) + decoded / s;
      if (decoded + dropped > 0) receive.droppedPct = (100 * dropped) / (decoded + dropped);
    }
  }

  /** @type {Measure} */
  const send = { rttMs: pairRtt, lossPct: null, bitrateKbps: null, fps: null, droppedPct: null, video: false };
  for (const r of cur.filter((r) => r.type === "outbound-rtp" && r.kind === "video")) {
    if (delta(r, "packetsSent")) {
      send.video = true;
      if (typeof r.framesPerSecond === "number") send.fps = (send.fps ?? 0) + r.framesPerSecond;
    }
  }
  // Only while video goes out: with audio alone the estimate stays low by
  // design and says nothing about the line.
  if (send.video) send.bitrateKbps = bitrate;
  for (const r of cur.filter((r) => r.type === "remote-inbound-rtp")) {
    // A stream that sent few packets in the window (video at its floor)
    // has reports of one or two packets: no loss figure.
    const out = byId.get(r.localId);
    const sent = out ? delta(out, "packetsSent") : null;
    if (sent !== null && sent < THRESHOLDS.minPackets) continue;
    // The reports that came in the window, each once; else the latest,
    // which counts until the next (audio's come only every few seconds).
    const since = before.get(r.id)?.timestamp ?? -Infinity;
    /** @type {Map<number, number>} */
    const reports = new Map();
    for (const reading of readings) {
      for (const x of reading) {
        if (x.id === r.id && x.timestamp > since && typeof x.fractionLost === "number") reports.set(x.timestamp, x.fractionLost * 100);
      }
    }
    if (reports.size === 0 && typeof r.fractionLost === "number") reports.set(r.timestamp, r.fractionLost * 100);
    if (reports.size > 0) {
      const mean = [...reports.values()].reduce((a, b) => a + b, 0) / reports.size;
      send.lossPct = Math.max(send.lossPct ?? 0, mean);
    }
    if (send.rttMs === null && typeof r.roundTripTime === "number") send.rttMs = r.roundTripTime * 1000;
  }
  return { receive, send };
}

/** @typedef {typeof THRESHOLDS} Thresholds */

/**
 * levelOf turns one direction's measure into a level.
 * @param {Measure} m
 * @param {Thresholds} [thresholds]
 * @returns {Level}
 */
export function levelOf(m, thresholds = THRESHOLDS) {
  const { weak, veryWeak } = thresholds;
  if (m.lossPct === null && m.rttMs === null && m.bitrateKbps === null && m.fps === null) return "unknown";
  if ((m.lossPct ?? 0) >= veryWeak.lossPct || (m.rttMs ?? 0) >= veryWeak.rttMs) return "very-weak";
  if (m.bitrateKbps !== null && m.bitrateKbps < veryWeak.bitrateKbps) return "very-weak";
  if ((m.lossPct ?? 0) >= weak.lossPct || (m.rttMs ?? 0) >= weak.rttMs) return "weak";
  if (m.video && m.fps !== null && m.fps < weak.fps) return "weak";
  if (m.video && (m.droppedPct ?? 0) >= weak.droppedPct) return "weak";
  return "good";
}

/**
 * Shown is one direction's level as the page shows it, with the samples
 * that point elsewhere.
 * @typedef {{level: Level, worse: number, better: number}} Shown
 */

/**
 * QualityState is everything decide carries from one sample to the next.
 * @typedef {object} QualityState
 * @property {Shown} receive what this person receives
 * @property {Shown} send what the other person receives from this one
 * @property {number} step index into STEPS for the own video
 * @property {number} stepGood good samples since the last step change
 * @property {number} veryWeak very weak samples in a row
 * @property {boolean} audioOnly this side sends and receives no video
 * @property {boolean} automatic audioOnly was switched on by decide
 * @property {boolean} mayAuto decide may switch to audio only by itself
 * @property {boolean} offer "audio only" is suggested to the person
 */

/** @returns {QualityState} the state at the start of a call */
export function initialState() {
  return {
    receive: { level: "unknown", worse: 0, better: 0 },
    send: { level: "unknown", worse: 0, better: 0 },
    step: 0,
    stepGood: 0,
    veryWeak: 0,
    audioOnly: false,
    automatic: false,
    mayAuto: true,
    offer: false,
  };
}

/**
 * settle moves a shown level towards a new sample's level with hysteresis.
 * @param {Shown} shown
 * @param {Level} sample
 * @returns {Shown}
 */
function settle(shown, sample) {
  if (sample === "unknown") return { ...shown, worse: 0, better: 0 };
  // At the start a good sample shows at once, a bad one needs its run (the
  // first seconds of a call are often slow).
  if (shown.level === "unknown" && sample === "good") return { level: sample, worse: 0, better: 0 };
  if (RANK[sample] > RANK[shown.level]) {
    const n = shown.worse + 1;
    return n >= HYSTERESIS.down ? { level: sample, worse: 0, better: 0 } : { ...shown, worse: n, better: 0 };
  }
  if (RANK[sample] < RANK[shown.level]) {
    const n = shown.better + 1;
    return n >= HYSTERESIS.up ? { level: sample, worse: 0, better: 0 } : { ...shown, worse: 0, better: n };
  }
  return { ...shown, worse: 0, better: 0 };
}

/**
 * decide is the adaptation: given the state and one sample's levels it
 * returns the next state. The shown levels follow the samples with
 * hysteresis; the video step follows what the other person receives (down
 * at once, up one step per HYSTERESIS.up good samples); a very weak line in
 * either direction suggests "audio only" and, if it lasts, switches to it
 * (once, until the line was good again or the person chose otherwise).
 * @param {QualityState} state
 * @param {{receive: Level, send: Level}} sample
 * @returns {QualityState}
 */
export function decide(state, sample) {
  const receive = settle(state.receive, sample.receive);
  const send = settle(state.send, sample.send);
  const target = send.level === "very-weak" ? STEPS.length - 1 : send.level === "weak" ? 1 : 0;
  let { step, stepGood, veryWeak, audioOnly, automatic, mayAuto } = state;
  if (target > step) {
    step = target;
    stepGood = 0;
  } else if (target < step) {
    stepGood++;
    if (stepGood >= HYSTERESIS.up) {
      step--;
      stepGood = 0;
    }
  } else {
    stepGood = 0;
  }
  const line = worse(receive.level, send.level);
  veryWeak = line === "very-weak" ? veryWeak + 1 : 0;
  if (line === "good") mayAuto = true;
  if (!audioOnly && mayAuto && veryWeak >= HYSTERESIS.audioOnlyAfter) {
    audioOnly = true;
    automatic = true;
    mayAuto = false;
  }
  const offer = !audioOnly && line === "very-weak";
  return { receive, send, step, stepGood, veryWeak, audioOnly, automatic, mayAuto, offer };
}

/**
 * toggleAudioOnly is the person's click on "audio only": it flips the mode,
 * and decide does not switch it back on by itself until the line was good.
 * @param {QualityState} state
 * @returns {QualityState}
 */
export function toggleAudioOnly(state) {
  return { ...state, audioOnly: !state.audioOnly, automatic: false, mayAuto: false, offer: false, veryWeak: 0 };
}

/**
 * withOpusFEC makes every Opus payload of an SDP ask for in-band forward
 * error correction (useinbandfec=1): the receiver's fmtp tells the sender
 * that it can use it, so a lost packet's speech is restored from the next.
 * SDP without Opus comes back unchanged.
 * @param {string} sdp
 * @returns {string}
 */
export function withOpusFEC(sdp) {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(eol);
  const opus = new Set();
  for (const line of lines) {
    const m = /^a=rtpmap:(\d+) opus\/48000/i.exec(line);
    if (m) opus.add(m[1]);
  }
  if (opus.size === 0) return sdp;
  const withFmtp = new Set();
  const out = lines.map((line) => {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (!m || !opus.has(m[1])) return line;
    withFmtp.add(m[1]);
    const params = m[2].split(";").filter((p) => p.trim() && !/^\s*useinbandfec=/i.test(p));
    return `a=fmtp:${m[1]} ${[...params, "useinbandfec=1"].join(";")}`;
  });
  // An Opus payload without any fmtp line gets one after its rtpmap.
  const result = [];
  for (const line of out) {
    result.push(line);
    const m = /^a=rtpmap:(\d+) opus\/48000/i.exec(line);
    if (m && !withFmtp.has(m[1])) result.push(`a=fmtp:${m[1]} useinbandfec=1`);
  }
  return result.join(eol);
}

/**
 * The texts the monitor needs; keys of i18n.js.
 * @typedef {import("./i18n.js").Translator} Translator
 */

/**
 * QualityMonitor reads a peer connection's stats once a second, shows the
 * levels in plain words, adapts the own video and offers "audio only".
 */
export class QualityMonitor {
  /**
   * @param {{indicator: HTMLElement, toggle: HTMLButtonElement, tr: Translator}} ui
   *   indicator: a live region (role="status") for the words; toggle: the
   *   "audio only" button (aria-pressed)
   */
  constructor(ui) {
    this.ui = ui;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    this.state = initialState();
    /** the readings of the window, oldest first */
    /** @type {any[][]} */
    this.last = [];
    /** @type {{receive: Measure, send: Measure}|null} */
    this.measures = null;
    this.timer = 0;
    this.busy = false;
    /** the step each video sender has, so it is set only on a change */
    /** @type {WeakMap<RTCRtpSender, number>} */
    this.applied = new WeakMap();
    /** the directions video transceivers had before audio only */
    /** @type {WeakMap<RTCRtpTransceiver, RTCRtpTransceiverDirection>} */
    this.directions = new WeakMap();
    this.peerAudioOnly = false;
    /** the thresholds of the levels; tests may relax some */
    /** @type {Thresholds} */
    this.thresholds = THRESHOLDS;
    ui.toggle.addEventListener("click", () => {
      this.state = toggleAudioOnly(this.state);
      this.apply().catch((err) => console.warn("sprechzimmer: audio only", err?.name));
    });
    this.render();
  }

  /**
   * attach starts watching pc (a new call); the person's "audio only"
   * choice carries over, the levels start afresh.
   * @param {RTCPeerConnection} pc
   */
  attach(pc) {
    this.detach();
    this.pc = pc;
    const { audioOnly, automatic } = this.state;
    this.state = { ...initialState(), audioOnly, automatic, mayAuto: !audioOnly };
    this.timer = window.setInterval(() => this.tick(), INTERVAL_MS);
    this.apply();
  }

  /** detach stops watching the current call. */
  detach() {
    clearInterval(this.timer);
    this.pc = null;
    this.last = [];
    this.measures = null;
    this.peerAudioOnly = false;
    this.state = { ...this.state, receive: initialState().receive, send: initialState().send, offer: false };
    this.render();
  }

  /** tick reads the stats and takes one decision. */
  async tick() {
    const pc = this.pc;
    if (!pc || this.busy || pc.connectionState !== "connected") return;
    this.busy = true;
    try {
      const cur = [...(await pc.getStats()).values()];
      if (pc !== this.pc) return;
      this.last = [...this.last, cur].slice(-WINDOW);
      this.measures = measure(this.last);
      this.state = decide(this.state, { receive: levelOf(this.measures.receive, this.thresholds), send: levelOf(this.measures.send, this.thresholds) });
      await this.apply();
    } catch (err) {
      console.warn("sprechzimmer: quality", /** @type {{name?: string}|undefined} */ (err)?.name);
    } finally {
      this.busy = false;
    }
  }

  /** apply puts the state on the peer connection and the page. */
  async apply() {
    const pc = this.pc;
    if (pc && pc.signalingState !== "closed") {
      for (const t of pc.getTransceivers()) {
        if (t.receiver.track.kind !== "video" || t.currentDirection === "stopped" || t.direction === "stopped") continue;
        if (this.state.audioOnly && t.direction !== "inactive") {
          // Renegotiates: the other side's receiver track goes muted and
          // its sender stops; nothing of the video crosses the line.
          this.directions.set(t, t.direction);
          t.direction = "inactive";
        } else if (!this.state.audioOnly && t.direction === "inactive" && this.directions.has(t)) {
          t.direction = /** @type {RTCRtpTransceiverDirection} */ (this.directions.get(t));
          this.directions.delete(t);
        }
        this.peerAudioOnly = !this.state.audioOnly && t.direction !== "inactive" && t.currentDirection === "inactive";
        try {
          await this.setStep(t.sender);
        } catch (err) {
          // e.g. two changes at once; the next sample sets it again.
          console.warn("sprechzimmer: video limits", /** @type {{name?: string}|undefined} */ (err)?.name);
        }
      }
    }
    this.render();
  }

  /**
   * setStep gives a video sender the current step's encoding limits.
   * @param {RTCRtpSender} sender
   */
  async setStep(sender) {
    const step = this.state.step;
    if (this.applied.get(sender) === step) return;
    const params = sender.getParameters();
    if (!params.encodings?.length) return; // not negotiated yet
    const want = STEPS[step];
    for (const e of params.encodings) {
      e.scaleResolutionDownBy = want.scaleResolutionDownBy;
      if (want.maxFramerate === null) delete e.maxFramerate;
      else e.maxFramerate = want.maxFramerate;
      if (want.maxBitrate === null) delete e.maxBitrate;
      else e.maxBitrate = want.maxBitrate;
    }
    await sender.setParameters(params);
    this.applied.set(sender, step);
  }

  /** render shows the levels in words and the button's state. */
  render() {
    const { indicator, toggle, tr } = this.ui;
    const s = this.state;
    const inCall = this.pc !== null;
    toggle.setAttribute("aria-pressed", String(s.audioOnly));
    toggle.classList.toggle("suggested", s.offer);
    indicator.dataset.receive = s.receive.level;
    indicator.dataset.send = s.send.level;
    indicator.dataset.level = worse(s.receive.level, s.send.level);
    indicator.dataset.step = String(s.step);
    indicator.dataset.audioOnly = s.audioOnly ? (s.automatic ? "automatic" : "chosen") : this.peerAudioOnly ? "peer" : "off";
    indicator.dataset.offer = String(s.offer);
    /** @type {string[]} */
    const words = [];
    const line = worse(s.receive.level, s.send.level);
    if (inCall && line !== "unknown") {
      if (line === "good") words.push(tr.t("quality.good"));
      if (s.receive.level === "weak") words.push(tr.t("quality.receive.weak"));
      if (s.receive.level === "very-weak") words.push(tr.t("quality.receive.veryWeak"));
      if (!s.audioOnly && s.send.level === "weak") words.push(tr.t("quality.send.weak"));
      if (!s.audioOnly && s.send.level === "very-weak") words.push(tr.t("quality.send.veryWeak"));
      if (s.offer) words.push(tr.t("quality.offer"));
      if (s.audioOnly && s.automatic) words.push(tr.t(line === "good" ? "quality.recovered" : "quality.switched"));
    }
    if (inCall && this.peerAudioOnly) words.push(tr.t("quality.peerAudioOnly"));
    const text = words.join(" ");
    // A live region speaks on every change: only real changes go in.
    if (indicator.textContent !== text) indicator.textContent = text;
    indicator.hidden = text === "";
    const label = tr.t("quality.audioOnly");
    if (toggle.getAttribute("aria-label") !== label) toggle.setAttribute("aria-label", label);
    if (toggle.textContent !== label) toggle.textContent = label;
    toggle.hidden = !inCall;
  }

  /** snapshot is the test hook's view: levels, step and the last measures. */
  snapshot() {
    return { ...this.state, receive: this.state.receive.level, send: this.state.send.level, peerAudioOnly: this.peerAudioOnly, measures: this.measures };
  }
}
