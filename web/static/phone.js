// @ts-check
// What a call needs on phones and tablets: the screen stays on during the
// call (Screen Wake Lock), and the video codec the device encodes in
// hardware goes first (H.264 where the browser says it is power-efficient,
// VP8 otherwise).

/**
 * ScreenWake keeps the screen on while held. Browsers drop the lock when
 * the page is hidden; it is asked for again when the page is shown.
 */
export class ScreenWake {
  constructor() {
    this.want = false;
    /** @type {WakeLockSentinel|null} */
    this.sentinel = null;
    /** off, held, unsupported or refused, for the tests. */
    this.state = "off";
    document.addEventListener("visibilitychange", () => {
      if (this.want && !this.sentinel && document.visibilityState === "visible") this.request();
    });
  }

  /** hold keeps the screen on until release. */
  async hold() {
    this.want = true;
    if (!this.sentinel) await this.request();
  }

  async request() {
    if (!("wakeLock" in navigator)) {
      this.state = "unsupported";
      return;
    }
    try {
      const sentinel = await navigator.wakeLock.request("screen");
      if (!this.want) {
        sentinel.release().catch(() => {});
        return;
      }
      this.sentinel = sentinel;
      this.state = "held";
      sentinel.addEventListener("release", () => {
        if (this.sentinel === sentinel) this.sentinel = null;
      });
    } catch {
      this.state = "refused";
    }
  }

  /** release lets the screen turn off again. */
  release() {
    this.want = false;
    this.state = "off";
    this.sentinel?.release().catch(() => {});
    this.sentinel = null;
  }
}

/** The video codec the calls offer first, as a MIME type. */
let firstVideoCodec = "video/VP8";

/**
 * chooseVideoCodec asks the browser whether it encodes H.264 power-
 * efficiently (in hardware) and puts H.264 first if so, VP8 otherwise.
 * @returns {Promise<string>} the chosen MIME type
 */
export async function chooseVideoCodec() {
  try {
    const info = await navigator.mediaCapabilities.encodingInfo({
      type: "webrtc",
      video: { contentType: "video/H264", width: 1280, height: 720, bitrate: 1_500_000, framerate: 30 },
    });
    firstVideoCodec = info.supported && info.powerEfficient ? "video/H264" : "video/VP8";
  } catch {
    firstVideoCodec = "video/VP8";
  }
  return firstVideoCodec;
}

/** @returns {string} the video codec the calls offer first */
export function videoCodec() {
  return firstVideoCodec;
}

/**
 * orderCodecs puts the codecs of MIME type first before the others, each
 * group in its order.
 * @template {{mimeType: string}} C
 * @param {C[]} codecs
 * @param {string} first
 * @returns {C[]}
 */
export function orderCodecs(codecs, first) {
  const is = (/** @type {C} */ c) => c.mimeType.toLowerCase() === first.toLowerCase();
  return [...codecs.filter(is), ...codecs.filter((c) => !is(c))];
}

/**
 * preferVideoCodec applies the chosen first codec to pc's video
 * transceivers, where the browser supports setCodecPreferences.
 * @param {RTCPeerConnection} pc
 */
export function preferVideoCodec(pc) {
  const codecs = globalThis.RTCRtpReceiver?.getCapabilities?.("video")?.codecs;
  if (!codecs) return;
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track.kind !== "video" || !t.setCodecPreferences) continue;
    try {
      t.setCodecPreferences(orderCodecs(codecs, firstVideoCodec));
    } catch {
      // a browser that refuses the list keeps its own order
    }
  }
}
