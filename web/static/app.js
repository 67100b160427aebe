// @ts-check
// The room page: waiting room, call, and the messages in between.
// States (also in <body data-state> and window.sprechzimmer.state):
//   loading       connecting to the server the first time
//   waiting-room  in the Wartezimmer before entering: consent, name, camera test
//   joining       join sent, no answer yet
//   admission     the client, in the Wartezimmer, waits for the therapist to let them in
//   waiting       in the room, the other person is not there
//   calling       the other person is there, media not yet flowing
//   connected     the call is up
//   reconnecting  the server connection or the media path broke; trying again
//   ended         this person hung up, or the therapist ended the call (data-ended="therapist")
//   closed        refused or closed for good; see data-error

import { checkName, cleanName } from "./protocol.js";
import { Translator, pickLanguage } from "./i18n.js";
import { Signaling, socketURL } from "./signaling.js";
import { LevelMeter } from "./media.js";
import { openDevices, openOne, listDevices, fillList, canChooseOutput, playTone, openedTracks, stopAll } from "./devices.js";
import { NetworkTest } from "./conntest.js";
import { ScreenWake, chooseVideoCodec, videoCodec } from "./phone.js";
import { Call } from "./call.js";
import { QualityMonitor } from "./quality.js";
import { PeerLink } from "./peerlink.js";
import { Chat } from "./chat.js";
import { NetCheck } from "./netcheck.js";
import { ServerNotice } from "./offline.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/** sessionStorage key for this room (rooms differ by path). */
const key = (/** @type {string} */ name) => `sprechzimmer:${location.pathname}:${name}`;
const store = {
  get: (/** @type {string} */ name) => sessionStorage.getItem(key(name)),
  set: (/** @type {string} */ name, /** @type {string} */ value) => sessionStorage.setItem(key(name), value),
  del: (/** @type {string} */ name) => sessionStorage.removeItem(key(name)),
};

const tr = new Translator(pickLanguage(navigator.languages));
tr.apply(document);

const app = {
  state: "loading",
  /** @type {"therapist"|"client"|""} */
  role: "",
  /** @type {import("./protocol.js").Welcome|null} */
  welcome: null,
  /** in the room (joined and not hung up) */
  joined: false,
  polite: false,
  /** @type {import("./protocol.js").Peer|null} */
  peer: null,
  peerGone: false,
  /** @type {Call|null} */
  call: null,
  /** @type {MediaStream|null} */
  local: null,
  error: "",
  /** @type {import("./conntest.js").TestResult|null} */
  testResult: null,
  /** What went wrong per device when they were last opened. */
  problems: /** @type {Partial<Record<import("./devices.js").DeviceKind, import("./devices.js").Problem>>} */ ({}),
  /** The camera's facing on phones: user (front) or environment (back). */
  facing: /** @type {"user"|"environment"} */ ("user"),
  /** the client waiting for admission, for the therapist */
  /** @type {import("./protocol.js").ClientWaiting|null} */
  waitingClient: null,
  /** the other person's camera and microphone, as their browser says */
  peerDevices: { camera: true, microphone: true },
  /** @type {PeerLink|null} */
  link: null,
  /** the person chose "continue here" for a link open elsewhere */
  takeover: false,
  /** who ended the call: "" (this person) or "therapist" */
  endedBy: "",
};

/** The page's test hook: read-only views for the end-to-end tests. */
/** @type {Window & {sprechzimmer?: object}} */ (window).sprechzimmer = {
  get state() { return app.state; },
  get pc() { return app.call?.pc ?? null; },
  get role() { return app.role; },
  get error() { return app.error; },
  get lang() { return tr.lang; },
  get level() { return meter.level; },
  get testResult() { return app.testResult; },
  get quality() { return quality.snapshot(); },
  /**
   * tuneQuality replaces the quality thresholds (quality.js THRESHOLDS),
   * for a test on a busy machine whose load must not count as a weak line.
   * @param {any} thresholds
   */
  tuneQuality(thresholds) { quality.thresholds = thresholds; },
  get peerDevices() { return { ...app.peerDevices }; },
  get unread() { return chat.unread; },
  get linkOpen() { return !!app.link?.open; },
  get trace() { return signaling?.trace.join(" ") ?? ""; },
  /** dropConnection closes the WebSocket as a network failure would. */
  dropConnection() { signaling?.drop(); },
  get problems() { return app.problems; },
  get facing() { return app.facing; },
  get wakeLock() { return wake.state; },
  get videoCodec() { return videoCodec(); },
  get local() { return app.local; },
  /** liveTracks lists the kinds of the page's tracks still live: every
   * camera and microphone track it opened, what its videos show, and what
   * its peer connections send and receive. Empty: camera light off. */
  liveTracks() {
    const tracks = new Set(openedTracks());
    for (const v of document.querySelectorAll("video")) {
      for (const t of /** @type {MediaStream|null} */ (v.srcObject)?.getTracks() ?? []) tracks.add(t);
    }
    for (const pc of [app.call?.pc, ...(test?.pcs ?? [])]) {
      if (!pc || pc.signalingState === "closed") continue;
      for (const x of [...pc.getSenders(), ...pc.getReceivers()]) if (x.track) tracks.add(x.track);
    }
    return [...tracks].filter((t) => t.readyState === "live").map((t) => t.kind);
  },
};

const meter = new LevelMeter($("level"));
const wake = new ScreenWake();
const codecChosen = chooseVideoCodec();
const quality = new QualityMonitor({ indicator: $("quality"), toggle: $("audio-only"), tr });
const netcheck = new NetCheck($("network-problem"), (key) => tr.t(key));
for (const ev of ["pointerdown", "keydown"]) document.addEventListener(ev, () => meter.resume(), { capture: true });

/**
 * setState moves the page to state and updates the status line and sections.
 * @param {string} state
 */
function setState(state) {
  app.state = state;
  document.body.dataset.state = state;
  const inCall = ["joining", "waiting", "calling", "connected", "reconnecting"].includes(state) && app.joined;
  $("waiting").hidden = !(state === "waiting-room" || state === "admission" || (state === "joining" && !app.joined) || (state === "reconnecting" && !app.joined && app.welcome));
  $("enter-form").hidden = state === "admission";
  $("waiting-intro").hidden = state === "admission";
  $("admission-wait").hidden = state !== "admission";
  $("admission-wait").textContent = state === "admission" ? tr.t("admission.wait") : "";
  if (state !== "waiting-room") $("seat-notice").hidden = true;
  const callWasHidden = $("call").hidden;
  $("call").hidden = !(inCall || (state === "joining" && store.get("inCall")));
  // Keyboard users land on the call's controls, not on a hidden button.
  if (callWasHidden && !$("call").hidden) $("mute").focus();
  $("ended").hidden = state !== "ended";
  // The screen stays on during the call (phones), not after it.
  if (inCall) wake.hold();
  else if (["ended", "closed", "waiting-room"].includes(state)) wake.release();
  $("ended-text").textContent = tr.t(app.endedBy === "therapist" ? "ended.byTherapist" : "status.ended");
  document.body.dataset.ended = app.endedBy;
  $("end").hidden = app.role !== "therapist";
  $("page-heading").hidden = !["loading", "closed"].includes(state);
  renderStatus();
  renderPeer();
}

/**
 * renderPeer shows the other person's state over their video (never just
 * a black picture) and says it in a live region, and the therapist's
 * "X is waiting" with the admit button.
 */
function renderPeer() {
  const d = app.peerDevices;
  let text = "";
  /** @type {string[]} */
  const said = [];
  if (app.state === "waiting") {
    text = app.peerGone ? tr.t("status.peerGone") : app.waitingClient ? tr.t("peer.clientWaiting") : tr.t("peer.notThere");
  } else if (app.state === "reconnecting") {
    text = tr.t("peer.reconnecting");
  } else if (app.state === "calling") {
    text = tr.t("peer.joined");
  } else if (app.state === "connected") {
    if (!d.camera) text = tr.t("peer.cameraOff");
    if (!d.microphone) said.push(tr.t("peer.muted"));
    if (!d.camera) said.unshift(text);
    if (d.camera && !d.microphone) text = tr.t("peer.muted");
  }
  $("remote-overlay").hidden = !text;
  $("remote-overlay").textContent = text;
  $("remote-overlay").dataset.peer = !d.camera && app.state === "connected" ? "camera-off" : app.state;
  document.body.dataset.peerCamera = d.camera ? "on" : "off";
  document.body.dataset.peerMicrophone = d.microphone ? "on" : "off";
  const live = said.length ? said.join(" ") : text || (app.state === "connected" ? tr.t("peer.connected") : "");
  if ($("peer-state").textContent !== live) $("peer-state").textContent = live;

  const w = app.role === "therapist" && app.joined ? app.waitingClient : null;
  $("admit-panel").hidden = !w;
  if (w) {
    $("admit-text").textContent = w.name ? tr.t("admission.waiting", { name: w.name }) : tr.t("admission.waitingUnnamed");
    const c = w.check ?? {};
    $("admit-check").textContent = tr.t("admission.check", {
      camera: tr.t(/** @type {any} */ (`check.${c.camera ?? "untested"}`)),
      microphone: tr.t(/** @type {any} */ (`check.${c.microphone ?? "untested"}`)),
      connection: tr.t(/** @type {any} */ (`check.${c.connection ?? "untested"}`)),
    });
  }
  document.title = w ? tr.t("admission.title", { name: w.name || tr.t("role.client") }) : tr.t("title");
}

function renderStatus() {
  /** @type {Record<string, string>} */
  const texts = {
    loading: tr.t("status.connecting"),
    joining: tr.t("status.connecting"),
    waiting: app.peerGone ? tr.t("status.peerGone") : tr.t("status.waiting"),
    calling: tr.t("status.calling"),
    connected: app.peer?.name ? tr.t("status.connectedWith", { name: app.peer.name }) : tr.t("status.connected"),
    reconnecting: tr.t("status.reconnecting"),
    ended: tr.t(app.endedBy === "therapist" ? "ended.byTherapist" : "status.ended"),
    admission: tr.t("status.admission"),
  };
  $("status").textContent = texts[app.state] ?? "";
  $("peer-name").textContent = app.peer && app.state !== "waiting" ? app.peer.name || tr.t(app.peer.role === "therapist" ? "role.therapist" : "role.client") : "";
  // The name of a person who entered from another device is never shown
  // without saying so (PROTOCOL.md, "A seat belongs to its device").
  const notice = $("device-notice");
  notice.hidden = !app.peer?.otherDevice;
  notice.textContent = app.peer?.otherDevice ? tr.t(app.peer.role === "therapist" ? "notice.otherDevice.therapist" : "notice.otherDevice.client") : "";
}

/**
 * fail shows the message for a refusal or close and ends the page's work.
 * @param {string} code an error code from PROTOCOL.md or "link-missing"
 */
function fail(code) {
  app.error = code;
  app.joined = false;
  document.body.dataset.error = code;
  closeCall();
  test?.stop();
  const known = /** @type {any} */ (`error.${code}`);
  const text = tr.t(known);
  $("message").textContent = text === known ? tr.t("error.generic") : text;
  $("message").hidden = false;
  if (["link-expired", "room-closed", "link-invalid"].includes(code)) {
    store.del("token");
    store.del("resume");
    store.del("inCall");
  }
  if (code === "replaced" || code === "room-full" || code === "reclaimed") store.del("inCall");
  releaseMedia();
  setState("closed");
  $("message").focus?.();
}

// ---- token ----

/** takeToken reads #t=<token>, removes it from the address bar, keeps it for this tab. */
function takeToken() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("t");
  if (fromLink) {
    if (store.get("token") !== fromLink) {
      store.del("resume");
      store.del("inCall");
    }
    store.set("token", fromLink);
    history.replaceState(history.state, "", location.pathname + location.search);
  }
  return store.get("token");
}

// ---- media ----

/** @type {Promise<MediaStream|null>} */
let mediaReady = Promise.resolve(null);

/** The devices chosen in the lists (empty: the browser's choice). */
function chosen() {
  return { cameraId: $("camera").value || undefined, microphoneId: $("microphone").value || undefined, facing: app.facing };
}

/** The old names of body data-media for each problem. */
const MEDIA_STATE = Object.freeze({ refused: "denied", busy: "busy", missing: "missing", constraints: "missing", insecure: "denied", failed: "failed" });

/**
 * startMedia opens camera and microphone (the chosen ones, if any), shows
 * them in the preview and says per device what went wrong.
 * @param {import("./devices.js").Choice} [choice]
 */
function startMedia(choice) {
  mediaReady = (async () => {
    const { stream, problems } = await openDevices(choice);
    app.problems = problems;
    showProblems();
    const first = problems.camera ?? problems.microphone;
    document.body.dataset.media = first ? MEDIA_STATE[first] : "ok";
    document.body.dataset.camera = problems.camera ?? (stream?.getVideoTracks().length ? "ok" : "off");
    document.body.dataset.microphone = problems.microphone ?? (stream?.getAudioTracks().length ? "ok" : "off");
    if (!stream) return app.local;
    const old = app.local;
    app.local = stream;
    for (const t of old?.getTracks() ?? []) t.stop();
    showLocal(stream);
    applyToggles();
    if (stream.getAudioTracks().length) meter.attach(stream);
    else meter.detach();
    for (const t of stream.getTracks()) {
      watchTrack(t);
      await app.call?.replaceTrack(t);
    }
    // Not awaited: Firefox answers enumerateDevices only once the tab is
    // visible, and a call must not wait for the device lists of a tab in
    // the background (e.g. reloaded behind another).
    fillDevices(stream).catch(() => {});
    return stream;
  })();
  return mediaReady;
}

/** @param {MediaStream|null} stream */
function showLocal(stream) {
  for (const id of ["preview", "local"]) {
    $(id).srcObject = null;
    $(id).srcObject = stream;
  }
}

/** @param {import("./devices.js").DeviceKind} kind */
const deviceName = (kind) => tr.t(kind === "camera" ? "devices.camera" : "devices.microphone");

/** problemLines says per device what went wrong, one line each. */
function problemLines() {
  const { camera, microphone } = app.problems;
  if (camera && camera === microphone) return [tr.t(/** @type {any} */ (`problem.${camera}`), { device: tr.t("devices.both") })];
  /** @type {[import("./devices.js").DeviceKind, string|undefined][]} */
  const each = [["camera", camera], ["microphone", microphone]];
  return each.filter(([, p]) => p).map(([kind, p]) => tr.t(/** @type {any} */ (`problem.${p}`), { device: deviceName(kind) }));
}

/** showProblems shows what went wrong with the devices and the retry. */
function showProblems() {
  const lines = problemLines();
  $("media-error").textContent = lines.join("\n");
  $("media-error").hidden = lines.length === 0;
  const problems = Object.values(app.problems);
  $("retry-media").hidden = problems.length === 0 || problems.every((p) => p === "insecure");
}

$("retry-media").addEventListener("click", async () => {
  $("retry-media").disabled = true;
  await startMedia(chosen());
  $("retry-media").disabled = false;
  if (!$("media-error").hidden) $("media-error").focus?.();
});

/** @param {MediaStream} stream */
async function fillDevices(stream) {
  const { cameras, microphones, speakers } = await listDevices();
  const unnamed = (/** @type {number} */ n) => tr.t("devices.unnamed", { n: String(n) });
  const inUse = (/** @type {MediaStreamTrack|undefined} */ t) => t?.getSettings().deviceId ?? "";
  fillList($("camera"), cameras, inUse(stream.getVideoTracks()[0]), unnamed, tr.t("devices.none"));
  fillList($("microphone"), microphones, inUse(stream.getAudioTracks()[0]), unnamed, tr.t("devices.none"));
  $("speaker-choice").hidden = !canChooseOutput() || speakers.length === 0;
  if (!$("speaker-choice").hidden) fillList($("speaker"), speakers, $("speaker").value || "default", unnamed, tr.t("devices.none"));
  // A phone has a front and a back camera behind one entry until permission.
  $("switch-camera").hidden = !(cameras.length > 1 || (cameras.length > 0 && navigator.maxTouchPoints > 0));
}

for (const id of ["camera", "microphone"]) {
  $(id).addEventListener("change", () => startMedia(chosen()));
}
navigator.mediaDevices?.addEventListener("devicechange", () => {
  if (app.local) fillDevices(app.local);
});

$("speaker").addEventListener("change", () => {
  $("remote").setSinkId?.($("speaker").value).catch(() => {});
});

$("speaker-test").addEventListener("click", async () => {
  const out = $("speaker-result");
  out.textContent = tr.t("speaker.playing");
  delete out.dataset.result;
  try {
    await playTone($("speaker-choice").hidden ? undefined : $("speaker").value);
    out.textContent = tr.t("speaker.played");
    out.dataset.result = "played";
  } catch {
    out.textContent = tr.t("speaker.failed");
    out.dataset.result = "failed";
  }
});

// ---- tracks the system ends or pauses (phone call, app switch) ----

const watched = /** @type {WeakSet<MediaStreamTrack>} */ (new WeakSet());

/** @param {MediaStreamTrack} track */
const current = (track) => !!app.local?.getTracks().includes(track);

/**
 * watchTrack tells the person when the system pauses or ends one of their
 * tracks, and opens the device again after an end.
 * @param {MediaStreamTrack} track
 */
function watchTrack(track) {
  if (watched.has(track)) return;
  watched.add(track);
  const kind = track.kind === "video" ? "camera" : "microphone";
  track.addEventListener("mute", () => { if (current(track)) showMediaNotice("notice.trackMuted", kind); });
  track.addEventListener("unmute", () => { if (current(track)) showMediaNotice("", kind); });
  track.addEventListener("ended", () => { if (current(track)) recover(track, kind); });
}

/**
 * showMediaNotice shows (or, with an empty key, hides) a notice about a device.
 * @param {string} textKey
 * @param {import("./devices.js").DeviceKind} kind
 */
function showMediaNotice(textKey, kind) {
  const el = $("media-notice");
  el.hidden = !textKey;
  el.textContent = textKey ? tr.t(/** @type {any} */ (textKey), { device: tr.t(kind === "camera" ? "device.the.camera" : "device.the.microphone") }) : "";
  el.dataset.notice = textKey;
}

/**
 * recover opens the device of an ended track again once the page is
 * visible (a hidden page may not open the camera) and puts it on the call.
 * @param {MediaStreamTrack} old
 * @param {import("./devices.js").DeviceKind} kind
 */
async function recover(old, kind) {
  showMediaNotice("notice.trackEnded", kind);
  while (document.visibilityState === "hidden") {
    await new Promise((resolve) => document.addEventListener("visibilitychange", resolve, { once: true }));
  }
  try {
    await putTrack(old, await openOne(kind, kind === "camera" ? { facing: app.facing } : {}));
    showMediaNotice("", kind);
  } catch {
    if (current(old)) showMediaNotice("notice.trackLost", kind);
  }
}

/**
 * putTrack puts track in the place of old in the page's stream, the
 * preview and the call (replaceTrack: no new negotiation).
 * @param {MediaStreamTrack|null} old
 * @param {MediaStreamTrack} track
 */
async function putTrack(old, track) {
  const stream = app.local ?? new MediaStream();
  if (old) stream.removeTrack(old);
  old?.stop();
  stream.addTrack(track);
  app.local = stream;
  watchTrack(track);
  applyToggles();
  showLocal(stream);
  if (track.kind === "audio") meter.attach(stream);
  await app.call?.replaceTrack(track);
}

/** switchCamera changes to the next camera (phones: front and back) during the call. */
async function switchCamera() {
  const old = app.local?.getVideoTracks()[0] ?? null;
  const { cameras } = await listDevices();
  /** @type {import("./devices.js").Choice} */
  let choice;
  if (cameras.length > 1) {
    const i = cameras.findIndex((c) => c.deviceId === old?.getSettings().deviceId);
    choice = { cameraId: cameras[(i + 1) % cameras.length].deviceId };
  } else {
    choice = { facing: app.facing === "user" ? "environment" : "user" };
  }
  // Many phones open one camera at a time: let go of this one first.
  old?.stop();
  let track;
  try {
    track = await openOne("camera", choice);
  } catch {
    choice = { facing: app.facing };
    track = await openOne("camera", choice).catch(() => null);
  }
  if (!track) {
    showMediaNotice("notice.trackLost", "camera");
    return;
  }
  const facing = track.getSettings().facingMode;
  app.facing = facing === "environment" || facing === "user" ? facing : choice.facing ?? app.facing;
  document.body.dataset.facing = app.facing;
  await putTrack(old, track);
}

$("switch-camera").addEventListener("click", () => {
  $("switch-camera").disabled = true;
  switchCamera().finally(() => { $("switch-camera").disabled = false; });
});

/** releaseMedia stops every track the page opened: the camera light goes off. */
function releaseMedia() {
  test?.stop();
  stopAll();
  meter.detach();
  wake.release();
  showLocal(null);
  app.local = null;
  mediaReady = Promise.resolve(null);
}

// ---- waiting room ----

/** @param {import("./protocol.js").Welcome} w */
function showWelcome(w) {
  app.welcome = w;
  app.role = w.role;
  document.body.dataset.role = w.role;
  tr.lang = pickLanguage(navigator.languages, w.language);
  tr.apply(document);
  labelControls();
  const isClient = w.role === "client";
  $("consent").hidden = !isClient;
  $("therapist-note").hidden = isClient;
  $("terms-summary").textContent = tr.t("terms.summary", { version: w.termsVersion });
  const start = new Date(w.startsAt ?? "");
  $("expires").textContent = Number.isNaN(start.getTime()) ? "" : tr.t("waiting.startsAt", { time: timeText(start) });
  // Said at once, before consent: the link is open in another window. A
  // tab coming back with its resume takes its own place back instead.
  $("seat-notice").hidden = !(w.seatInUse && !(store.get("inCall") && store.get("resume")));
  watchClosing(new Date(w.expiresAt));
  updateEnter();
}

/**
 * timeText is a time of today as "14:00", of another day with its date.
 * @param {Date} when
 */
function timeText(when) {
  return when.toDateString() === new Date().toDateString()
    ? when.toLocaleTimeString(tr.lang, { hour: "2-digit", minute: "2-digit" })
    : when.toLocaleString(tr.lang, { dateStyle: "medium", timeStyle: "short" });
}

$("continue-here").addEventListener("click", () => {
  app.takeover = true;
  $("seat-notice").hidden = true;
  $("name").focus();
});

// ---- the room closes: warnings 10 and 2 minutes before ----

let closingTimer = 0;
/** @param {Date} end */
function watchClosing(end) {
  clearInterval(closingTimer);
  if (Number.isNaN(end.getTime())) return;
  const check = () => {
    const left = end.getTime() - Date.now();
    const key = left <= 2 * 60000 ? "closing.two" : left <= 10 * 60000 ? "closing.ten" : "";
    const el = $("closing-warning");
    el.hidden = !key || app.state === "closed";
    el.dataset.warning = key;
    const text = key ? tr.t(/** @type {any} */ (key), { time: timeText(end) }) : "";
    if (el.textContent !== text) el.textContent = text;
  };
  check();
  closingTimer = setInterval(check, 5000);
}

function updateEnter() {
  const consented = app.role === "therapist" || ($("terms").checked && $("processing").checked);
  $("enter").disabled = !app.welcome || !consented || app.state === "joining";
  $("test").disabled = !app.welcome || !!test?.pcs.length;
  // A disabled button says what is missing (aria-describedby).
  const why = !app.welcome ? "enter.why.connecting" : app.state === "joining" ? "enter.why.joining" : !consented ? "enter.why.consent" : "";
  $("enter-why").textContent = $("enter").disabled && why ? tr.t(why) : "";
}
$("terms").addEventListener("change", updateEnter);
$("processing").addEventListener("change", updateEnter);

/** @type {NetworkTest|null} */
let test = null;

$("test").addEventListener("click", async () => {
  if (!app.welcome) return;
  test ??= new NetworkTest(app.welcome.iceServers);
  const out = $("test-result");
  out.className = "result";
  out.textContent = tr.t("test.running");
  delete out.dataset.result;
  const stream = await mediaReady;
  const live = stream?.getTracks().some((t) => t.readyState === "live") ? stream : null;
  const running = test.run(live);
  updateEnter();
  const r = await running;
  app.testResult = r;
  updateEnter();
  const { lines, ok } = describeTest(r);
  out.className = `result ${ok ? "ok" : "bad"}`;
  out.dataset.result = ok ? "ok" : "failed";
  out.dataset.relay = !r.turnConfigured ? "none" : r.relay && r.connected ? "reachable" : "unreachable";
  out.dataset.stun = r.stun;
  out.dataset.camera = app.problems.camera ?? (!r.wantVideo ? "off" : r.video ? "ok" : "no-picture");
  out.dataset.microphone = app.problems.microphone ?? (!r.wantAudio ? "off" : r.audio ? "ok" : "no-sound");
  out.textContent = lines.join("\n");
});

/**
 * describeTest says in plain words what the device and network test found;
 * ok (green) only when camera, microphone and the path all work.
 * @param {import("./conntest.js").TestResult} r
 */
function describeTest(r) {
  const lines = problemLines();
  if (!app.problems.camera && r.wantVideo) lines.push(tr.t("device.ok", { device: deviceName("camera") }));
  if (!app.problems.microphone && r.wantAudio) lines.push(tr.t("device.ok", { device: deviceName("microphone") }));
  const missing = [];
  if (r.wantAudio && !r.audio) missing.push(tr.t("nettest.missing.audio"));
  if (r.wantVideo && !r.video) missing.push(tr.t("nettest.missing.video"));
  let pathOK = r.connected && missing.length === 0;
  if (!r.turnConfigured) {
    lines.push(tr.t(pathOK ? "nettest.local.ok" : "nettest.local.failed"));
  } else if (!r.relay || !r.connected) {
    pathOK = false;
    lines.push(tr.t("nettest.relay.failed"));
  } else {
    lines.push(missing.length ? tr.t("nettest.relay.partial", { missing: missing.join(", ") }) : tr.t("nettest.relay.ok"));
  }
  if (r.stun !== "none") lines.push(tr.t(r.stun === "reachable" ? "nettest.stun.ok" : "nettest.stun.failed"));
  if (r.connected && (r.wantAudio || r.wantVideo)) lines.push(tr.t("nettest.private"));
  const ok = pathOK && r.wantAudio && r.wantVideo && Object.keys(app.problems).length === 0;
  lines.unshift(tr.t(ok ? "nettest.ok" : "nettest.problems"));
  return { lines, ok };
}

/**
 * checkSummary is the client's own test result for the therapist.
 * @returns {import("./protocol.js").Check}
 */
function checkSummary() {
  /** @type {Record<string, import("./protocol.js").CheckResult>} */
  const fromMedia = { ok: "ok", denied: "refused", missing: "missing", busy: "busy", failed: "failed" };
  const media = fromMedia[document.body.dataset.media ?? ""] ?? "untested";
  const device = (/** @type {"video"|"audio"} */ kind) =>
    media !== "ok" ? media : app.local?.getTracks().some((t) => t.kind === kind) ? "ok" : "missing";
  const r = app.testResult;
  return {
    camera: device("video"),
    microphone: device("audio"),
    connection: !r ? "untested" : r.connected ? "ok" : "failed",
  };
}

/** joinData builds join's data from this tab's stored consent, name and resume. */
function joinData() {
  /** @type {import("./protocol.js").Join} */
  const data = {};
  const consent = store.get("consent");
  if (app.role === "client" && consent) {
    data.consent = { termsAccepted: true, processingAccepted: true, termsVersion: consent };
  }
  const name = store.get("name");
  if (name) data.name = name;
  const resume = store.get("resume");
  if (resume) data.resume = resume;
  if (app.takeover) data.takeover = true;
  if (app.role === "client") data.check = checkSummary();
  return data;
}

$("enter-form").addEventListener("submit", (/** @type {SubmitEvent} */ ev) => {
  ev.preventDefault();
  if (!app.welcome) return;
  const name = cleanName($("name").value);
  $("form-error").hidden = true;
  const problem = checkName(name);
  if (problem) {
    showFormError(NAME_PROBLEM_TEXTS[problem]);
    return;
  }
  if (app.role === "client") {
    if (!$("terms").checked || !$("processing").checked) {
      showFormError("consent.required");
      return;
    }
    store.set("consent", app.welcome.termsVersion);
  }
  if (name) store.set("name", name);
  else store.del("name");
  join();
});

/** The text for each reason checkName refuses a name. */
const NAME_PROBLEM_TEXTS = Object.freeze({ "too-long": "name.tooLong", "marks": "name.marks", "role": "name.role" });

/** @param {any} textKey */
function showFormError(textKey) {
  $("form-error").textContent = tr.t(textKey);
  $("form-error").hidden = false;
  $("form-error").focus?.();
}

function join() {
  test?.stop();
  setState("joining");
  updateEnter();
  signaling?.send("join", joinData());
}

// ---- the call ----

/** How long the one who entered second waits for the other's offer. */
const OFFER_WAIT_MS = 6000;

/**
 * startCall replaces any call with a new peer connection to the other person.
 * The one already in the room offers (offerer); the one who just entered
 * waits for that offer, and offers itself only if none comes.
 * @param {boolean} offerer
 */
async function startCall(offerer) {
  closeCall();
  const stream = await mediaReady;
  await codecChosen;
  if (!app.joined || !app.welcome || !signaling) return;
  const call = new Call(signaling, app.polite, app.welcome.iceServers, stream, offerer);
  app.call = call;
  quality.attach(call.pc);
  netcheck.watch(call.pc, app.welcome.iceServers);
  if (!offerer) {
    setTimeout(() => {
      if (app.call === call) call.offerIfIdle();
    }, OFFER_WAIT_MS);
  }
  setState("calling");
  call.addEventListener("channel", (/** @type {any} */ ev) => {
    if (app.call !== call) return;
    const link = new PeerLink(ev.detail.channel);
    app.link = link;
    link.addEventListener("open", () => sendDevices());
    link.addEventListener("state", (/** @type {any} */ e) => {
      if (app.link !== link) return;
      app.peerDevices = { camera: e.detail.camera, microphone: e.detail.microphone };
      renderPeer();
    });
    link.addEventListener("chat", (/** @type {any} */ e) => chat.received(e.detail.text));
  });
  call.addEventListener("track", (/** @type {any} */ ev) => {
    const remote = $("remote");
    if (remote.srcObject !== ev.detail.stream) remote.srcObject = ev.detail.stream;
    remote.play().then(() => { $("play").hidden = true; }, () => { $("play").hidden = false; });
  });
  call.addEventListener("state", (/** @type {any} */ ev) => {
    if (app.call !== call || !app.joined) return;
    switch (ev.detail.state) {
      case "connected":
        setState("connected");
        break;
      case "disconnected":
      case "failed":
        setState("reconnecting");
        break;
      case "new":
      case "connecting":
        if (app.state !== "reconnecting") setState("calling");
        break;
    }
  });
}

function closeCall() {
  const call = app.call;
  app.call = null;
  quality.detach();
  netcheck.stop();
  app.link = null;
  app.peerDevices = { camera: true, microphone: true };
  call?.close();
  $("remote").srcObject = null;
  $("play").hidden = true;
}

$("play").addEventListener("click", () => {
  $("remote").play().then(() => { $("play").hidden = true; }, () => {});
});

function applyToggles() {
  const muted = $("mute").getAttribute("aria-pressed") === "true";
  const camOff = $("camera-toggle").getAttribute("aria-pressed") === "true";
  for (const t of app.local?.getAudioTracks() ?? []) t.enabled = !muted;
  for (const t of app.local?.getVideoTracks() ?? []) t.enabled = !camOff;
  $("mute").setAttribute("aria-label", tr.t(muted ? "call.unmute" : "call.mute"));
  $("camera-toggle").setAttribute("aria-label", tr.t(camOff ? "call.cameraOn" : "call.cameraOff"));
  $("mute").title = $("mute").getAttribute("aria-label");
  $("camera-toggle").title = $("camera-toggle").getAttribute("aria-label");
  sendDevices();
}

/** sendDevices tells the other browser whether camera and microphone are on. */
function sendDevices() {
  const muted = $("mute").getAttribute("aria-pressed") === "true";
  const camOff = $("camera-toggle").getAttribute("aria-pressed") === "true";
  const camera = !camOff && !!app.local?.getVideoTracks().length;
  const microphone = !muted && !!app.local?.getAudioTracks().length;
  app.link?.send({ t: "state", camera, microphone });
}

const chat = new Chat({
  toggle: $("chat-toggle"), unread: $("chat-unread"), panel: $("chat"), log: $("chat-log"),
  form: $("chat-form"), input: $("chat-input"), announce: $("chat-announce"),
}, (key, params) => tr.t(key, params), (text) => app.link?.send({ t: "chat", text }) ?? false);
for (const id of ["mute", "camera-toggle"]) {
  $(id).addEventListener("click", () => {
    const pressed = $(id).getAttribute("aria-pressed") === "true";
    $(id).setAttribute("aria-pressed", String(!pressed));
    applyToggles();
  });
}
/** labelControls names the icon buttons in the current language. */
function labelControls() {
  applyToggles();
  $("hangup").setAttribute("aria-label", tr.t("call.hangup"));
  $("hangup").title = tr.t("call.hangup");
  $("switch-camera").setAttribute("aria-label", tr.t("call.switchCamera"));
  $("switch-camera").title = tr.t("call.switchCamera");
}
labelControls();

$("admit").addEventListener("click", () => {
  signaling?.send("admit", {});
});
$("end").addEventListener("click", () => {
  signaling?.send("end", {});
  app.joined = false;
  app.peer = null;
  app.waitingClient = null;
  store.del("inCall");
  closeCall();
  setState("ended");
  $("rejoin").focus();
});

$("hangup").addEventListener("click", () => {
  signaling?.send("hangup", {});
  app.joined = false;
  app.peer = null;
  store.del("inCall");
  closeCall();
  // Every track ends: the camera light goes off.
  releaseMedia();
  setState("ended");
  $("rejoin").focus();
});
$("rejoin").addEventListener("click", () => {
  startMedia(chosen());
  app.endedBy = "";
  join();
});

// ---- messages ----

/** Server messages are handled one after another, in order. */
let chain = Promise.resolve();

/**
 * @param {string} type
 * @param {any} data
 */
async function onMessage(type, data) {
  switch (type) {
    case "welcome":
      showWelcome(data);
      if (store.get("inCall") && store.get("resume")) {
        setState("joining");
        signaling?.send("join", joinData());
      } else if (app.state !== "ended") {
        setState("waiting-room");
      }
      return;
    case "joined": {
      const wasInCall = app.call;
      app.joined = true;
      app.polite = !!data.polite;
      app.peer = data.peer ?? null;
      app.peerGone = false;
      app.takeover = false;
      app.endedBy = "";
      store.set("resume", String(data.resume ?? ""));
      store.set("inCall", "1");
      $("form-error").hidden = true;
      if (data.waiting) {
        closeCall();
        setState("admission");
      } else if (!app.peer) {
        closeCall();
        setState("waiting");
      } else if (wasInCall && ["connected", "connecting"].includes(wasInCall.pc.connectionState)) {
        // Only the server connection dropped; the media path still stands.
        setState(wasInCall.pc.connectionState === "connected" ? "connected" : "calling");
      } else {
        await startCall(false);
      }
      return;
    }
    case "client-waiting":
      if (!app.joined) return;
      app.waitingClient = data;
      renderPeer();
      chime();
      return;
    case "admitted":
      if (!app.joined) return;
      app.peer = data.peer ?? null;
      await startCall(false);
      return;
    case "ended":
      app.joined = false;
      app.peer = null;
      app.endedBy = String(data.by ?? "therapist");
      store.del("inCall");
      closeCall();
      chat.clear();
      setState("ended");
      $("ended-text").focus?.();
      return;
    case "peer-joined":
      if (!app.joined) return;
      app.waitingClient = null;
      app.peer = data;
      app.peerGone = false;
      renderStatus();
      await startCall(true);
      return;
    case "peer-left":
      if (!app.joined) return;
      app.waitingClient = null;
      app.peer = null;
      app.peerGone = data.reason === "gone";
      closeCall();
      setState("waiting");
      return;
    case "offer":
    case "answer":
    case "candidate":
      if (!app.joined) return;
      if (!app.call) {
        if (type !== "offer") return;
        await startCall(false);
      }
      try {
        await app.call?.handle(type, data);
      } catch (err) {
        // An offer from a new peer connection of the other side (after its
        // reload) cannot go into this one: start afresh.
        if (type !== "offer") throw err;
        await startCall(false);
        await app.call?.handle(type, data);
      }
      return;
    case "room-closed":
      fail("room-closed");
      return;
    case "error":
      onError(String(data.code ?? ""));
      return;
  }
}

/** @param {string} code a non-fatal error code (fatal ones arrive as "fatal") */
function onError(code) {
  switch (code) {
    case "consent-required":
    case "bad-name":
    case "seat-taken": // not final: entering again works once the seat is free
      store.del("inCall");
      app.joined = false;
      setState("waiting-room");
      updateEnter();
      showFormError(`error.${code}`);
      return;
    case "already-joined":
      return;
    default:
      // Protocol slips of this page; nothing a person can act on.
      if (code) console.warn("sprechzimmer: server error", code);
  }
}

// ---- arrival sound (Web Audio; only after a gesture, per autoplay rules) ----

/** @type {AudioContext|null} */
let audio = null;
for (const ev of ["pointerdown", "keydown"]) {
  document.addEventListener(ev, () => {
    try {
      audio ??= new AudioContext();
      if (audio.state === "suspended") audio.resume().catch(() => {});
    } catch {
      audio = null;
    }
  }, { capture: true });
}

/** chime plays a short, soft two-tone sound if the page may play sound. */
function chime() {
  if (!audio || audio.state !== "running") return;
  const now = audio.currentTime;
  for (const [i, freq] of [660, 880].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, now + i * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.15, now + i * 0.18 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.18);
    osc.stop(now + i * 0.18 + 0.4);
  }
  document.body.dataset.chimed = String(Number(document.body.dataset.chimed ?? 0) + 1);
}

// ---- server unreachable (offline.js) ----

const serverNotice = new ServerNotice(document, tr, () => signaling?.nextTry ?? 0, () => signaling?.retryNow());
function expectOpen() { serverNotice.expect(); }
function opened() { serverNotice.opened(); }

// ---- start ----

/** @type {Signaling|null} */
let signaling = null;

const token = takeToken();
if (!token) {
  fail("link-missing");
} else {
  setState(store.get("inCall") ? "reconnecting" : "loading");
  startMedia();
  signaling = new Signaling(socketURL(location.href), token);
  signaling.addEventListener("message", (/** @type {any} */ ev) => {
    const { type, data } = ev.detail;
    chain = chain.then(() => onMessage(type, data)).catch((err) => console.warn("sprechzimmer:", err?.name ?? err));
  });
  signaling.addEventListener("open", opened);
  signaling.addEventListener("drop", () => {
    expectOpen();
    if (app.state !== "ended") setState(app.welcome || app.joined ? "reconnecting" : "loading");
  });
  signaling.addEventListener("fatal", (/** @type {any} */ ev) => {
    opened();
    chain = chain.then(() => fail(ev.detail.code));
  });
  expectOpen();
  signaling.connect();
}
