// @ts-check
// The microphone level meter (opening the devices: devices.js).

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
