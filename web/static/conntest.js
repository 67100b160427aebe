// @ts-check
// The connection test: a peer connection to the server's echo peer that
// sends back what it receives. It shows whether camera, microphone and the
// network path work, and whether a TURN relay candidate could be gathered.

/**
 * @typedef {object} TestResult
 * @property {boolean} connected the ICE/DTLS connection came up
 * @property {boolean} audio sound came back
 * @property {boolean} video picture came back
 * @property {boolean} turnConfigured TURN servers were given
 * @property {boolean} relay a relay candidate was gathered (TURN reachable)
 * @property {string} candidates the types of the gathered candidates
 * @property {string} gathering the ICE gathering state at the end
 * @property {string} [error] an error code from the server, e.g. test-unavailable
 */

/**
 * hasTURN reports whether the ICE servers include a TURN server.
 * @param {RTCIceServer[]} iceServers
 * @returns {boolean}
 */
export function hasTURN(iceServers) {
  return iceServers.some((s) => [s.urls].flat().some((u) => /^turns?:/i.test(u)));
}

/**
 * probeTURN reports whether a TURN relay candidate can be gathered from
 * iceServers: a relay-only peer connection that only gathers and never
 * connects. It resolves false at the end of gathering or after timeoutMs.
 * @param {RTCIceServer[]} iceServers
 * @param {number} [timeoutMs]
 * @returns {Promise<boolean>}
 */
export function probeTURN(iceServers, timeoutMs = 10000) {
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: "relay" });
  return new Promise((resolve) => {
    const finish = (/** @type {boolean} */ ok) => {
      clearTimeout(timer);
      pc.onicecandidate = null;
      pc.close();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate?.type === "relay") finish(true);
      else if (!candidate) finish(false);
    };
    pc.addTransceiver("audio");
    pc.setLocalDescription().catch(() => finish(false));
  });
}

/**
 * ConnectionTest runs one test over the signaling connection.
 */
export class ConnectionTest {
  /**
   * @param {import("./signaling.js").Signaling} signaling
   * @param {RTCIceServer[]} iceServers
   */
  constructor(signaling, iceServers) {
    this.signaling = signaling;
    this.iceServers = iceServers;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {((r: Partial<TestResult>) => void)|null} */
    this.finish = null;
    this.relay = false;
    /** @type {TestResult|null} */
    this.result = null;
  }

  /**
   * run tests with the stream's tracks and resolves within timeoutMs.
   * @param {MediaStream|null} stream
   * @param {number} [timeoutMs]
   * @returns {Promise<TestResult>}
   */
  run(stream, timeoutMs = 15000) {
    this.stop();
    const turnConfigured = hasTURN(this.iceServers);
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.relay = false;
    /** The types of the gathered candidates, for tests and debugging. */
    const seen = /** @type {string[]} */ ([]);
    this.seen = seen;
    const wantAudio = !!stream?.getAudioTracks().length;
    const wantVideo = !!stream?.getVideoTracks().length;
    if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
    if (!stream) pc.addTransceiver("video", { direction: "recvonly" });

    // Whether TURN is reachable is asked apart from the echo test: the
    // echo's own path may well be direct and finish before a relay is ready.
    const turnProbe = turnConfigured ? probeTURN(this.iceServers) : Promise.resolve(false);

    return new Promise((resolve) => {
      let gathered = !turnConfigured;
      let connected = false;
      /** @param {Partial<TestResult>} extra */
      const done = async (extra = {}) => {
        if (this.pc !== pc || this.finish === null) return;
        this.finish = null;
        clearTimeout(timer);
        clearInterval(poll);
        const got = await received(pc).catch(() => ({ audio: false, video: false, relay: false }));
        if (got.relay || (await turnProbe)) this.relay = true;
        const result = { connected, audio: got.audio, video: got.video, turnConfigured, relay: this.relay, candidates: seen.join(","), gathering: pc.iceGatheringState, ...extra };
        this.result = result;
        this.stop();
        resolve(result);
      };
      this.finish = (r) => done(r);
      const timer = setTimeout(() => done(), timeoutMs);
      // Done early once everything expected came back and candidate gathering
      // had its chance to find a relay.
      const poll = setInterval(async () => {
        if (!connected || !(gathered || this.relay || pc.iceGatheringState === "complete")) return;
        const got = await received(pc).catch(() => ({ audio: false, video: false }));
        if ((got.audio || !wantAudio) && (got.video || !wantVideo)) done();
      }, 250);

      pc.onicecandidate = ({ candidate }) => {
        seen.push(candidate ? `${candidate.type}/${candidate.protocol}` : "end");
        if (candidate?.type === "relay") this.relay = true;
        if (!candidate) gathered = true;
        this.signaling.send("test-candidate", candidate ? candidate.toJSON() : { candidate: null });
      };
      pc.onicecandidateerror = (ev) => {
        seen.push(`error:${/** @type {RTCPeerConnectionIceErrorEvent} */ (ev).errorCode}`);
      };
      pc.onicegatheringstatechange = () => {
        if (pc.iceGatheringState === "complete") gathered = true;
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected") connected = true;
        if (pc.connectionState === "failed") done();
      };
      pc.createOffer()
        .then((offer) => pc.setLocalDescription(offer))
        .then(() => this.signaling.send("test-offer", { sdp: pc.localDescription?.sdp }))
        .catch(() => done());
    });
  }

  /**
   * handle takes a test-answer, test-candidate or error message; it reports
   * whether the message belonged to the test.
   * @param {string} type
   * @param {any} data
   * @returns {boolean}
   */
  handle(type, data) {
    const pc = this.pc;
    switch (type) {
      case "test-answer":
        pc?.setRemoteDescription({ type: "answer", sdp: data.sdp }).catch(() => this.finish?.({}));
        return true;
      case "test-candidate":
        if (pc && data && data.candidate !== undefined) pc.addIceCandidate(data.candidate === null ? null : data).catch(() => {});
        return true;
      case "error":
        if (data.code === "test-unavailable") {
          this.finish?.({ error: "test-unavailable" });
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  /** stop ends the test and frees the echo peer. */
  stop() {
    if (!this.pc) return;
    const pc = this.pc;
    this.pc = null;
    this.finish = null;
    // Keep the local tracks: they belong to the preview.
    for (const t of pc.getTransceivers()) t.receiver.track?.stop();
    pc.close();
    this.signaling.send("test-stop", {});
  }
}

/**
 * received reports whether audio and video came back on pc, and whether a
 * relay candidate was gathered.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<{audio: boolean, video: boolean, relay: boolean}>}
 */
async function received(pc) {
  const stats = await pc.getStats();
  let audio = false;
  let video = false;
  let relay = false;
  stats.forEach((s) => {
    if (s.type === "local-candidate" && s.candidateType === "relay") relay = true;
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "audio" && s.packetsReceived > 0) audio = true;
    if (s.kind === "video" && s.framesDecoded > 0) video = true;
  });
  return { audio, video, relay };
}
