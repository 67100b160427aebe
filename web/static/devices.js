// @ts-check
// The device test: opening camera and microphone with what went wrong told
// per device, the device lists, the speaker test tone, and every track the
// page ever opened (so hanging up can stop them all: the camera light goes
// off).

/**
 * What went wrong with one device:
 *  refused      the person or the browser's settings did not allow it
 *  busy         another program (or tab) holds it
 *  missing      there is none
 *  constraints  the chosen one cannot be opened (unplugged since)
 *  insecure     the page is not a secure context: browsers allow no camera
 *  failed       anything else
 * @typedef {"refused"|"busy"|"missing"|"constraints"|"insecure"|"failed"} Problem
 */

/** @typedef {"camera"|"microphone"} DeviceKind */

/**
 * The devices a person chose in the lists; empty means the browser's choice.
 * @typedef {object} Choice
 * @property {string} [cameraId]
 * @property {string} [microphoneId]
 * @property {"user"|"environment"} [facing] the camera facing (phones)
 */

/**
 * The result of opening the devices.
 * @typedef {object} Opened
 * @property {MediaStream|null} stream the tracks that could be opened
 * @property {Partial<Record<DeviceKind, Problem>>} problems per device that
 *   could not be opened
 */

/**
 * problemOf maps a getUserMedia error to what went wrong.
 * @param {unknown} err
 * @returns {Problem}
 */
export function problemOf(err) {
  switch (/** @type {{name?: string}} */ (err)?.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return "refused";
    case "SecurityError":
      return window.isSecureContext ? "refused" : "insecure";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "busy";
    case "NotFoundError":
    case "DevicesNotFoundError":
      return "missing";
    case "OverconstrainedError":
      return "constraints";
    default:
      return "failed";
  }
}

/** Every track getUserMedia gave this page, live or ended. */
const opened = /** @type {Set<MediaStreamTrack>} */ (new Set());

/**
 * openedTracks returns every camera and microphone track the page opened,
 * for hang-up (stop them all) and the tests (are they all ended?).
 * @returns {MediaStreamTrack[]}
 */
export function openedTracks() {
  return [...opened];
}

/** stopAll ends every track the page opened: camera and microphone are off. */
export function stopAll() {
  for (const t of opened) t.stop();
}

/**
 * constraints builds the getUserMedia constraints for choice.
 * @param {Choice} choice
 */
function constraints(choice) {
  /** @type {MediaTrackConstraints} */
  const video = choice.cameraId
    ? { deviceId: { exact: choice.cameraId } }
    : { width: { ideal: 1280 }, height: { ideal: 720 }, ...(choice.facing ? { facingMode: { ideal: choice.facing } } : {}) };
  /** @type {MediaTrackConstraints} */
  const audio = { echoCancellation: true, noiseSuppression: true, ...(choice.microphoneId ? { deviceId: { exact: choice.microphoneId } } : {}) };
  return { video, audio };
}

/**
 * ask calls getUserMedia and remembers the tracks it returns.
 * @param {MediaStreamConstraints} c
 * @returns {Promise<MediaStream>}
 */
async function ask(c) {
  const stream = await navigator.mediaDevices.getUserMedia(c);
  for (const t of stream.getTracks()) opened.add(t);
  return stream;
}

/**
 * granted asks the Permissions API whether kind is allowed; undefined where
 * the browser cannot tell.
 * @param {DeviceKind} kind
 * @returns {Promise<boolean|undefined>}
 */
async function granted(kind) {
  try {
    const status = await navigator.permissions.query(/** @type {PermissionDescriptor} */ ({ name: kind }));
    return status.state === "granted";
  } catch {
    return undefined;
  }
}

/**
 * openDevices opens camera and microphone. When both together fail, it
 * opens each alone where that can work, so a refused camera does not cost
 * the microphone, and it tells what failed per device.
 * @param {Choice} [choice]
 * @returns {Promise<Opened>}
 */
export async function openDevices(choice = {}) {
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    return { stream: null, problems: { camera: "insecure", microphone: "insecure" } };
  }
  const { video, audio } = constraints(choice);
  try {
    return { stream: await ask({ video, audio }), problems: {} };
  } catch (err) {
    const both = problemOf(err);
    /** @type {Opened} */
    const out = { stream: null, problems: {} };
    /** @type {[DeviceKind, MediaStreamConstraints][]} */
    const alone = [["microphone", { audio }], ["camera", { video }]];
    for (const [kind, c] of alone) {
      // A refusal asks no second time (no new prompt) unless the browser
      // says this one device was allowed.
      if (both === "refused" && (await granted(kind)) !== true) {
        out.problems[kind] = "refused";
        continue;
      }
      try {
        const s = await ask(c);
        out.stream ??= new MediaStream();
        for (const t of s.getTracks()) out.stream.addTrack(t);
      } catch (e) {
        out.problems[kind] = problemOf(e);
      }
    }
    return out;
  }
}

/**
 * openOne opens one device alone, e.g. after the system ended its track or
 * to switch to the other camera.
 * @param {DeviceKind} kind
 * @param {Choice} [choice]
 * @returns {Promise<MediaStreamTrack>}
 */
export async function openOne(kind, choice = {}) {
  const { video, audio } = constraints(choice);
  const stream = await ask(kind === "camera" ? { video } : { audio });
  return kind === "camera" ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
}

/**
 * listDevices returns the cameras, microphones and speakers; their names
 * are there once permission was given.
 * @returns {Promise<{cameras: MediaDeviceInfo[], microphones: MediaDeviceInfo[], speakers: MediaDeviceInfo[]}>}
 */
export async function listDevices() {
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === "videoinput" && d.deviceId),
    microphones: all.filter((d) => d.kind === "audioinput" && d.deviceId),
    speakers: all.filter((d) => d.kind === "audiooutput" && d.deviceId),
  };
}

/**
 * canChooseOutput reports whether the browser lets a page choose the
 * speaker (setSinkId; not in Safari on phones, nor Firefox by default).
 * @returns {boolean}
 */
export function canChooseOutput() {
  return typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

/**
 * fillList puts devices into select, marking the one in use; it says
 * "none found" when the list is empty.
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {string} inUse the deviceId in use
 * @param {(n: number) => string} unnamed a name for a device without a label
 * @param {string} none the text for an empty list
 */
export function fillList(select, devices, inUse, unnamed, none) {
  select.replaceChildren();
  devices.forEach((d, i) => {
    const opt = new Option(d.label || unnamed(i + 1), d.deviceId);
    opt.selected = d.deviceId === inUse;
    select.add(opt);
  });
  if (devices.length === 0) select.add(new Option(none, ""));
  select.disabled = devices.length < 2;
}

/**
 * playTone plays a short, gentle tone (440 Hz, 0.8 s) through sinkId where
 * the browser lets a page choose the speaker, else through the default.
 * It resolves once the tone has ended.
 * @param {string} [sinkId]
 * @returns {Promise<void>}
 */
export async function playTone(sinkId) {
  const ctx = new AudioContext();
  try {
    const sinkable = /** @type {AudioContext & {setSinkId?: (id: string) => Promise<void>}} */ (ctx);
    if (sinkId && sinkable.setSinkId) await sinkable.setSinkId(sinkId);
    await ctx.resume();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 440;
    const t0 = ctx.currentTime;
    // Fade in and out: no click at either end.
    gain.gain.setValueAtTime(0, t0);
    gain.gain.linearRampToValueAtTime(0.2, t0 + 0.05);
    gain.gain.setValueAtTime(0.2, t0 + 0.7);
    gain.gain.linearRampToValueAtTime(0, t0 + 0.8);
    osc.connect(gain).connect(ctx.destination);
    const ended = new Promise((resolve) => { osc.onended = resolve; });
    osc.start(t0);
    osc.stop(t0 + 0.8);
    await ended;
  } finally {
    await ctx.close().catch(() => {});
  }
}
