// @ts-check
// Camera and microphone: opening them, listing devices, and the level meter.

/**
 * openMedia asks for camera and microphone, optionally particular devices.
 * @param {{cameraId?: string, microphoneId?: string}} [choice]
 * @returns {Promise<MediaStream>}
 */
export async function openMedia(choice = {}) {
  const video = choice.cameraId ? { deviceId: { exact: choice.cameraId } } : { width: { ideal: 1280 }, height: { ideal: 720 } };
  const audio = choice.microphoneId
    ? { deviceId: { exact: choice.microphoneId }, echoCancellation: true, noiseSuppression: true }
    : { echoCancellation: true, noiseSuppression: true };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio });
  } catch (err) {
    // Without a camera, still try the microphone alone (and the reverse).
    const name = /** @type {{name?: string}|undefined} */ (err)?.name;
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      for (const only of [{ audio }, { video }]) {
        try {
          return await navigator.mediaDevices.getUserMedia(only);
        } catch {
          // try the next
        }
      }
    }
    throw err;
  }
}

/**
 * mediaErrorKey maps a getUserMedia error to the key of the text the page shows.
 * @param {unknown} err
 * @returns {"media.denied"|"media.missing"|"media.busy"|"media.failed"}
 */
export function mediaErrorKey(err) {
  switch (/** @type {{name?: string}} */ (err)?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "media.denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "media.missing";
    case "NotReadableError":
    case "AbortError":
      return "media.busy";
    default:
      return "media.failed";
  }
}

/**
 * listDevices returns the cameras and microphones; labels are there once
 * permission was given.
 * @returns {Promise<{cameras: MediaDeviceInfo[], microphones: MediaDeviceInfo[]}>}
 */
export async function listDevices() {
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === "videoinput"),
    microphones: all.filter((d) => d.kind === "audioinput"),
  };
}

/**
 * LevelMeter shows the loudness of a stream's microphone in a <meter>.
 */
export class LevelMeter {
  /** @param {HTMLMeterElement} meter */
  constructor(meter) {
    this.meter = meter;
    /** @type {AudioContext|null} */
    this.ctx = null;
    /** @type {MediaStreamAudioSourceNode|null} */
    this.source = null;
    /** @type {AnalyserNode|null} */
    this.analyser = null;
    this.frame = 0;
    /** The last level, 0..1, for tests and the meter. */
    this.level = 0;
  }

  /**
   * attach measures the first audio track of stream.
   * @param {MediaStream} stream
   */
  attach(stream) {
    this.detach();
    if (stream.getAudioTracks().length === 0) return;
    this.ctx ??= new AudioContext();
    this.source = this.ctx.createMediaStreamSource(stream);
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    this.source.connect(this.analyser);
    const samples = new Float32Array(this.analyser.fftSize);
    const tick = () => {
      if (!this.analyser) return;
      this.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      // Speech sits around 0.01..0.3 RMS; spread that over the meter.
      this.level = Math.min(1, rms * 4);
      this.meter.value = this.level;
      this.frame = requestAnimationFrame(tick);
    };
    tick();
  }

  /** resume starts the audio context after a user gesture (autoplay rules). */
  resume() {
    if (this.ctx?.state === "suspended") this.ctx.resume().catch(() => {});
  }

  /** detach stops measuring. */
  detach() {
    cancelAnimationFrame(this.frame);
    this.source?.disconnect();
    this.source = null;
    this.analyser = null;
    this.level = 0;
    this.meter.value = 0;
  }
}
