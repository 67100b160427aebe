// @ts-check
// The network test, entirely inside this browser: two peer connections in
// the page send the camera and microphone to each other through the room's
// TURN relay only (a loopback), and a STUN check asks the same server for
// this device's public address. Media leaves the device only encrypted and
// is decrypted only here, in the browser that captured it: no server of
// ours ever holds it.

/**
 * @typedef {object} TestResult
 * @property {boolean} turnConfigured TURN servers were given (then the
 *   loopback is relay-only; without, it uses local addresses)
 * @property {boolean} relay a relay candidate was gathered (TURN answered)
 * @property {boolean} connected the two peer connections connected
 * @property {boolean} audio sound arrived at the far peer connection
 * @property {boolean} video picture arrived (frames decoded)
 * @property {boolean} wantAudio a microphone track was sent
 * @property {boolean} wantVideo a camera track was sent
 * @property {"reachable"|"unreachable"|"none"} stun the STUN check: none
 *   when no server to ask was given
 * @property {string} candidates the types of the gathered candidates
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
 * stunServers returns the servers to ask for this device's public address:
 * the stun: URLs given, and each UDP turn: server asked as a STUN server
 * (every TURN server answers STUN binding requests).
 * @param {RTCIceServer[]} iceServers
 * @returns {RTCIceServer[]}
 */
export function stunServers(iceServers) {
  const urls = new Set();
  for (const u of iceServers.flatMap((s) => [s.urls].flat())) {
    const m = /^(stun|turn):([^?]+)(\?(.*))?$/i.exec(u.trim());
    if (!m) continue;
    if (m[1].toLowerCase() === "turn" && /transport=tcp/i.test(m[4] ?? "")) continue;
    urls.add(`stun:${m[2]}`);
  }
  return urls.size ? [{ urls: [...urls] }] : [];
}

/**
 * checkSTUN asks servers for this device's public address. Reachable: a
 * server-reflexive candidate came back, or gathering ended without a STUN
 * error after a local address was found (a browser drops a reflexive
 * address equal to a local one, e.g. without NAT).
 * @param {RTCIceServer[]} servers
 * @param {number} [timeoutMs]
 * @returns {Promise<"reachable"|"unreachable"|"none">}
 */
export function checkSTUN(servers, timeoutMs = 8000) {
  if (servers.length === 0) return Promise.resolve("none");
  const pc = new RTCPeerConnection({ iceServers: servers });
  return new Promise((resolve) => {
    let host = false;
    let failed = false;
    const finish = (/** @type {"reachable"|"unreachable"} */ r) => {
      clearTimeout(timer);
      pc.onicecandidate = pc.onicecandidateerror = null;
      pc.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish("unreachable"), timeoutMs);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate?.type === "srflx") finish("reachable");
      else if (candidate?.type === "host") host = true;
      else if (!candidate) finish(host && !failed ? "reachable" : "unreachable");
    };
    pc.onicecandidateerror = (ev) => {
      if (/^stun:/i.test(/** @type {RTCPeerConnectionIceErrorEvent} */ (ev).url ?? "")) failed = true;
    };
    pc.createDataChannel("stun-check");
    pc.setLocalDescription().catch(() => finish("unreachable"));
  });
}

/**
 * NetworkTest runs the in-browser network test. pcs holds the loopback's
 * two peer connections while it runs (the page's test hook reads them).
 */
export class NetworkTest {
  /** @param {RTCIceServer[]} iceServers the room's STUN and TURN servers */
  constructor(iceServers) {
    this.iceServers = iceServers;
    /** @type {RTCPeerConnection[]} */
    this.pcs = [];
    /** @type {(() => void)|null} */
    this.cancel = null;
  }

  /**
   * run sends stream's tracks through the loopback and checks STUN; it
   * resolves within timeoutMs. The tracks stay the caller's: the test
   * stops only what it received.
   * @param {MediaStream|null} stream
   * @param {number} [timeoutMs]
   * @returns {Promise<TestResult>}
   */
  async run(stream, timeoutMs = 15000) {
    this.stop();
    const stun = checkSTUN(stunServers(this.iceServers));
    const loop = this.loopback(stream, timeoutMs);
    const [l, s] = await Promise.all([loop, stun]);
    return { ...l, stun: s };
  }

  /**
   * loopback connects two peer connections of this page through the TURN
   * relay (relay-only) and waits until stream's media arrived at the far
   * one, the path failed, or timeoutMs passed.
   * @param {MediaStream|null} stream
   * @param {number} timeoutMs
   * @returns {Promise<Omit<TestResult, "stun">>}
   */
  loopback(stream, timeoutMs) {
    const turnConfigured = hasTURN(this.iceServers);
    /** @type {RTCConfiguration} */
    const config = { iceServers: this.iceServers, iceTransportPolicy: turnConfigured ? "relay" : "all" };
    const near = new RTCPeerConnection(config);
    const far = new RTCPeerConnection(config);
    this.pcs = [near, far];
    const wantAudio = !!stream?.getAudioTracks().length;
    const wantVideo = !!stream?.getVideoTracks().length;
    const seen = /** @type {string[]} */ ([]);
    let relay = false;
    let gathering = 2;
    /** @type {[RTCPeerConnection, RTCPeerConnection][]} */
    const pairs = [[near, far], [far, near]];
    for (const [from, to] of pairs) {
      from.onicecandidate = ({ candidate }) => {
        seen.push(candidate ? `${candidate.type}/${candidate.protocol}` : "end");
        if (candidate?.type === "relay") relay = true;
        if (!candidate) gathering--;
        if (candidate) to.addIceCandidate(candidate).catch(() => {});
      };
    }
    if (stream) for (const t of stream.getTracks()) near.addTrack(t, stream);
    // Without media the relay path is still tested with a data channel.
    if (!wantAudio && !wantVideo) near.createDataChannel("loopback");

    return new Promise((resolve) => {
      let finished = false;
      const finish = async () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        clearInterval(poll);
        this.cancel = null;
        const got = await arrived(far).catch(() => ({ audio: false, video: false }));
        const connected = far.connectionState === "connected" || near.connectionState === "connected";
        close(near, far);
        if (this.pcs[0] === near) this.pcs = [];
        resolve({ turnConfigured, relay, connected, ...got, wantAudio, wantVideo, candidates: seen.join(",") });
      };
      this.cancel = finish;
      const timer = setTimeout(finish, timeoutMs);
      const poll = setInterval(async () => {
        // Nothing can connect once both gathered no relay.
        if (turnConfigured && gathering <= 0 && !relay) return finish();
        if ([near.connectionState, far.connectionState].includes("failed")) return finish();
        if (far.connectionState !== "connected") return;
        const got = await arrived(far).catch(() => ({ audio: false, video: false }));
        if ((got.audio || !wantAudio) && (got.video || !wantVideo)) finish();
      }, 250);
      (async () => {
        await near.setLocalDescription();
        await far.setRemoteDescription(/** @type {RTCSessionDescriptionInit} */ (near.localDescription));
        await far.setLocalDescription();
        await near.setRemoteDescription(/** @type {RTCSessionDescriptionInit} */ (far.localDescription));
      })().catch(finish);
    });
  }

  /** stop ends a running test and closes its peer connections. */
  stop() {
    this.cancel?.();
    close(...this.pcs);
    this.pcs = [];
  }
}

/**
 * close closes peer connections and ends the tracks they received; the
 * sent tracks stay, they belong to the preview.
 * @param {RTCPeerConnection[]} pcs
 */
function close(...pcs) {
  for (const pc of pcs) {
    for (const r of pc.getReceivers()) r.track?.stop();
    pc.close();
  }
}

/**
 * arrived reports whether sound and picture arrived at pc.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<{audio: boolean, video: boolean}>}
 */
async function arrived(pc) {
  const stats = await pc.getStats();
  let audio = false;
  let video = false;
  stats.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "audio" && s.packetsReceived > 0) audio = true;
    if (s.kind === "video" && s.framesDecoded > 0) video = true;
  });
  return { audio, video };
}
