// The call with the other person: one RTCPeerConnection negotiated with the
// perfect negotiation pattern (polite flag from joined), ICE restarts when
// the path breaks.

/**
 * Call is the peer connection to the other person. It dispatches:
 *  - "state": the peer connection's state changed (detail {state})
 *  - "track": detail {stream}, the other person's media
 */
export class Call extends EventTarget {
  /**
   * @param {{send: (type: string, data: object) => boolean}} signaling
   * @param {boolean} polite
   * @param {RTCIceServer[]} iceServers
   * @param {MediaStream|null} local
   */
  constructor(signaling, polite, iceServers, local) {
    super();
    this.signaling = signaling;
    this.polite = polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.restartTimer = 0;
    this.closed = false;
    this.remote = new MediaStream();
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    for (const track of local?.getTracks() ?? []) pc.addTrack(track, local);
    if (!local?.getVideoTracks().length) pc.addTransceiver("video", { direction: "recvonly" });
    if (!local?.getAudioTracks().length) pc.addTransceiver("audio", { direction: "recvonly" });

    pc.ontrack = ({ track }) => {
      this.remote.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: { stream: this.remote } }));
    };
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        if (!this.closed) this.signaling.send("offer", { sdp: pc.localDescription?.sdp });
      } catch (err) {
        console.warn("sprechzimmer: offer failed", err?.name);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (this.closed) return;
      this.signaling.send("candidate", candidate ? candidate.toJSON() : { candidate: null });
    };
    pc.oniceconnectionstatechange = () => {
      clearTimeout(this.restartTimer);
      if (pc.iceConnectionState === "failed") {
        pc.restartIce();
      } else if (pc.iceConnectionState === "disconnected") {
        // Often recovers by itself within a few seconds; restart if not.
        this.restartTimer = setTimeout(() => {
          if (pc.iceConnectionState === "disconnected") pc.restartIce();
        }, 3000);
      }
    };
    pc.onconnectionstatechange = () => {
      this.dispatchEvent(new CustomEvent("state", { detail: { state: pc.connectionState } }));
    };
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
        if (!this.ignoreOffer) console.warn("sprechzimmer: candidate refused", err?.name);
      }
      return;
    }
    const offerCollision = type === "offer" && (this.makingOffer || pc.signalingState !== "stable");
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) return;
    if (type === "answer" && pc.signalingState !== "have-local-offer") return;
    await pc.setRemoteDescription({ type, sdp: data.sdp });
    if (type === "offer") {
      await pc.setLocalDescription();
      this.signaling.send("answer", { sdp: pc.localDescription?.sdp });
    }
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
    clearTimeout(this.restartTimer);
    this.pc.close();
    this.dispatchEvent(new CustomEvent("state", { detail: { state: "closed" } }));
  }
}
