// @ts-check
// Texts of the page in German and English, and the choice between them.

/** @typedef {"de"|"en"} Lang */

const de = {
  "title": "Sprechzimmer",
  "waiting.heading": "Vorzimmer",
  "waiting.intro": "Bitte prüfen Sie Kamera und Mikrofon. Wenn Sie bereit sind, betreten Sie das Sprechzimmer.",
  "waiting.expires": "Dieser Termin ist gültig bis {time} Uhr.",
  "preview.label": "Ihr eigenes Kamerabild",
  "devices.camera": "Kamera",
  "devices.microphone": "Mikrofon",
  "devices.none": "keine gefunden",
  "level.label": "Mikrofonpegel",
  "name.label": "Ihr Name für das Gespräch (freiwillig)",
  "name.hint": "Höchstens 64 Zeichen. Er wird nur Ihrem Gegenüber angezeigt und nach dem Termin gelöscht.",
  "consent.heading": "Nutzungsbedingungen und Einwilligung",
  "terms.summary": "Nutzungsbedingungen lesen (Fassung {version})",
  "terms.text": "Das Sprechzimmer verbindet genau zwei Personen: Sie und Ihre Therapeutin oder Ihren Therapeuten. Bild und Ton werden verschlüsselt direkt zwischen Ihren Geräten übertragen und zu keinem Zeitpunkt aufgezeichnet, weder von uns noch von anderen. Der Server vermittelt nur den Verbindungsaufbau und leitet, wenn keine direkte Verbindung möglich ist, die verschlüsselten Daten weiter, ohne sie lesen zu können. Ein Anzeigename ist freiwillig und wird nur für die Dauer des Termins im Arbeitsspeicher gehalten. Bitte sorgen Sie für eine ruhige, ungestörte Umgebung. Bild- und Tonaufzeichnungen des Gesprächs sind auch Ihnen nicht gestattet.",
  "consent.terms": "Ich habe die Nutzungsbedingungen gelesen und akzeptiere sie.",
  "consent.processing": "Ich willige ein, dass die für die Videositzung unbedingt nötigen Daten (Verbindungsdaten, freiwilliger Anzeigename) für die Dauer des Termins verarbeitet werden.",
  "consent.therapist": "Sie nehmen als Therapeut*in teil. Ihr Gegenüber bestätigt die Nutzungsbedingungen und die Einwilligung hier im Vorzimmer.",
  "consent.required": "Bitte bestätigen Sie zuerst die Nutzungsbedingungen und die Einwilligung.",
  "test.button": "Verbindung testen",
  "test.running": "Verbindungstest läuft …",
  "test.ok": "Kamera, Mikrofon und Verbindung funktionieren.",
  "test.partial": "Die Verbindung steht, aber es kommt nicht alles an: {missing}.",
  "test.missing.audio": "Ton",
  "test.missing.video": "Bild",
  "test.failed": "Der Verbindungstest hat nicht geklappt. Prüfen Sie Ihre Internetverbindung oder versuchen Sie es in einem anderen Netz.",
  "test.unavailable": "Der Verbindungstest ist gerade nicht möglich. Sie können das Sprechzimmer trotzdem betreten.",
  "test.relay.ok": "Der Vermittlungsserver (TURN) ist erreichbar.",
  "test.relay.missing": "Der Vermittlungsserver (TURN) ist nicht erreichbar. In manchen Netzen kann dann keine Verbindung entstehen.",
  "enter.button": "Sprechzimmer betreten",
  "name.tooLong": "Der Name ist zu lang (höchstens 64 Zeichen).",
  "name.role": "Bitte wählen Sie einen anderen Namen: Bezeichnungen wie „Therapeut“, „Klientin“, „Sprechzimmer“ oder „Admin“ sind als Name nicht möglich.",
  "name.marks": "Der Name besteht zu großen Teilen aus Akzent- oder Zusatzzeichen. Bitte geben Sie ihn ohne diese Zeichen ein.",
  "media.denied": "Der Zugriff auf Kamera und Mikrofon wurde nicht erlaubt. Erlauben Sie ihn in den Einstellungen Ihres Browsers (meist über das Symbol in der Adresszeile) und laden Sie die Seite neu. Ohne Kamera und Mikrofon kann Ihr Gegenüber Sie nicht sehen und hören.",
  "media.missing": "Es wurde keine Kamera und kein Mikrofon gefunden. Schließen Sie ein Gerät an und laden Sie die Seite neu.",
  "media.busy": "Kamera oder Mikrofon werden gerade von einem anderen Programm benutzt. Schließen Sie es und laden Sie die Seite neu.",
  "media.failed": "Kamera und Mikrofon konnten nicht gestartet werden.",
  "status.connecting": "Verbindung zum Server wird hergestellt …",
  "status.waiting": "Warten auf Ihr Gegenüber …",
  "status.peerGone": "Die Verbindung Ihres Gegenübers ist abgebrochen. Warten, bis es zurückkommt …",
  "status.calling": "Verbindung wird aufgebaut …",
  "status.connected": "Verbunden",
  "status.connectedWith": "Verbunden mit {name}",
  "status.reconnecting": "Verbindung unterbrochen. Neuer Versuch …",
  "status.ended": "Sie haben das Gespräch beendet.",
  "role.therapist": "Ihre Therapeutin / Ihr Therapeut",
  "role.client": "Ihre Klientin / Ihr Klient",
  "call.remote": "Video Ihres Gegenübers",
  "call.local": "Ihr eigenes Bild",
  "call.mute": "Mikrofon ausschalten",
  "call.unmute": "Mikrofon einschalten",
  "call.cameraOff": "Kamera ausschalten",
  "call.cameraOn": "Kamera einschalten",
  "call.hangup": "Auflegen",
  "call.rejoin": "Wieder betreten",
  "call.playSound": "Ton einschalten",
  "error.link-missing": "Dieser Link ist unvollständig. Bitte öffnen Sie den vollständigen Link, den Sie erhalten haben.",
  "error.hello-required": "Es ist ein technisches Problem aufgetreten. Bitte laden Sie die Seite neu.",
  "error.version-unsupported": "Es ist ein technisches Problem aufgetreten. Bitte laden Sie die Seite neu.",
  "error.link-invalid": "Dieser Link ist nicht gültig. Bitte prüfen Sie, ob Sie ihn vollständig kopiert haben, oder fragen Sie nach einem neuen.",
  "error.link-expired": "Dieser Termin ist vorbei, der Link ist abgelaufen.",
  "error.room-full": "In diesem Sprechzimmer sind bereits zwei Personen. Niemand sonst kann eintreten.",
  "error.replaced": "Das Gespräch wird in einem anderen Fenster fortgesetzt.",
  "error.reclaimed": "Das Gerät, auf dem dieser Link zuerst benutzt wurde, ist zurück. Das Gespräch wird dort fortgesetzt.",
  "error.seat-taken": "Mit diesem Link ist gerade ein anderes Gerät im Sprechzimmer. Sie können es erneut versuchen, sobald es das Sprechzimmer verlassen hat.",
  "notice.otherDevice.client": "Der Link Ihrer Klientin / Ihres Klienten wurde auf einem anderen Gerät geöffnet.",
  "notice.otherDevice.therapist": "Der Link Ihrer Therapeutin / Ihres Therapeuten wurde auf einem anderen Gerät geöffnet.",
  "error.room-closed": "Die Zeit für diesen Termin ist abgelaufen. Das Sprechzimmer ist geschlossen.",
  "error.consent-required": "Bitte bestätigen Sie zuerst die Nutzungsbedingungen und die Einwilligung.",
  "error.bad-name": "Dieser Name ist nicht möglich. Bitte wählen Sie einen anderen (höchstens 64 Zeichen, keine Bezeichnung wie „Therapeut“ oder „Klientin“).",
  "error.generic": "Es ist ein technisches Problem aufgetreten. Bitte laden Sie die Seite neu.",

  // quality.js: the call quality indicator and "audio only" (issue 11, item 4)
  "quality.good": "Die Verbindung ist gut.",
  "quality.receive.weak": "Ihre Verbindung ist schwach: Bild und Ton Ihres Gegenübers können stocken.",
  "quality.receive.veryWeak": "Ihre Verbindung ist sehr schwach: Bild und Ton Ihres Gegenübers kommen nur noch lückenhaft an.",
  "quality.send.weak": "Die Verbindung zu Ihrem Gegenüber ist schwach: Ihr Bild wird reduziert, damit Sie gut zu hören bleiben.",
  "quality.send.veryWeak": "Die Verbindung zu Ihrem Gegenüber ist sehr schwach: Ihr Bild kommt kaum noch an.",
  "quality.offer": "Mit „Nur Ton“ bleibt das Gespräch verständlich.",
  "quality.switched": "Wegen der schwachen Verbindung ist nur noch der Ton an. Mit „Nur Ton“ schalten Sie das Bild wieder ein.",
  "quality.recovered": "Die Verbindung ist wieder gut. Mit „Nur Ton“ schalten Sie das Bild wieder ein.",
  "quality.peerAudioOnly": "Ihr Gegenüber hat auf „Nur Ton“ umgeschaltet: Sie hören sich weiter, sehen sich aber nicht.",
  "quality.audioOnly": "Nur Ton",
};

/** @type {typeof de} */
const en = {
  "title": "Sprechzimmer",
  "waiting.heading": "Waiting room",
  "waiting.intro": "Please check your camera and microphone. When you are ready, enter the consultation room.",
  "waiting.expires": "This appointment is valid until {time}.",
  "preview.label": "Your own camera picture",
  "devices.camera": "Camera",
  "devices.microphone": "Microphone",
  "devices.none": "none found",
  "level.label": "Microphone level",
  "name.label": "Your name for the conversation (optional)",
  "name.hint": "At most 64 characters. It is shown only to the other person and deleted after the appointment.",
  "consent.heading": "Terms of use and consent",
  "terms.summary": "Read the terms of use (version {version})",
  "terms.text": "The consultation room connects exactly two people: you and your therapist. Picture and sound travel encrypted directly between your devices and are never recorded, neither by us nor by anyone else. The server only helps to set up the connection and, when no direct connection is possible, passes the encrypted data on without being able to read it. A display name is optional and kept in memory only for the duration of the appointment. Please make sure you are in a quiet place where you will not be disturbed. You may not record the conversation either.",
  "consent.terms": "I have read and accept the terms of use.",
  "consent.processing": "I consent to the processing of the data strictly needed for the video session (connection data, optional display name) for the duration of the appointment.",
  "consent.therapist": "You take part as the therapist. The other person confirms the terms of use and the consent here in the waiting room.",
  "consent.required": "Please confirm the terms of use and the consent first.",
  "test.button": "Test the connection",
  "test.running": "Testing the connection …",
  "test.ok": "Camera, microphone and connection work.",
  "test.partial": "The connection works, but not everything arrives: {missing}.",
  "test.missing.audio": "sound",
  "test.missing.video": "picture",
  "test.failed": "The connection test did not work. Check your internet connection or try another network.",
  "test.unavailable": "The connection test is not possible right now. You can still enter the consultation room.",
  "test.relay.ok": "The relay server (TURN) is reachable.",
  "test.relay.missing": "The relay server (TURN) is not reachable. In some networks no connection can be made then.",
  "enter.button": "Enter the consultation room",
  "name.tooLong": "The name is too long (at most 64 characters).",
  "name.role": "Please choose another name: words such as “therapist”, “client”, “Sprechzimmer” or “admin” cannot be used as a name.",
  "name.marks": "The name consists largely of accents or other combining marks. Please enter it without them.",
  "media.denied": "Access to camera and microphone was not allowed. Allow it in your browser's settings (usually through the icon in the address bar) and reload the page. Without camera and microphone the other person cannot see or hear you.",
  "media.missing": "No camera and no microphone were found. Connect a device and reload the page.",
  "media.busy": "Camera or microphone are in use by another program. Close it and reload the page.",
  "media.failed": "Camera and microphone could not be started.",
  "status.connecting": "Connecting to the server …",
  "status.waiting": "Waiting for the other person …",
  "status.peerGone": "The other person's connection dropped. Waiting for them to come back …",
  "status.calling": "Connecting …",
  "status.connected": "Connected",
  "status.connectedWith": "Connected with {name}",
  "status.reconnecting": "Connection interrupted. Trying again …",
  "status.ended": "You have ended the conversation.",
  "role.therapist": "Your therapist",
  "role.client": "Your client",
  "call.remote": "The other person's video",
  "call.local": "Your own picture",
  "call.mute": "Turn microphone off",
  "call.unmute": "Turn microphone on",
  "call.cameraOff": "Turn camera off",
  "call.cameraOn": "Turn camera on",
  "call.hangup": "Hang up",
  "call.rejoin": "Enter again",
  "call.playSound": "Turn sound on",
  "error.link-missing": "This link is incomplete. Please open the complete link you received.",
  "error.hello-required": "A technical problem occurred. Please reload the page.",
  "error.version-unsupported": "A technical problem occurred. Please reload the page.",
  "error.link-invalid": "This link is not valid. Please check that you copied all of it, or ask for a new one.",
  "error.link-expired": "This appointment has ended; the link has expired.",
  "error.room-full": "Two people are already in this room. Nobody else can enter.",
  "error.replaced": "The call continues in another window.",
  "error.reclaimed": "The device that used this link first is back. The call continues there.",
  "error.seat-taken": "Another device is in the room with this link right now. You can try again once it has left.",
  "notice.otherDevice.client": "Your client's link was opened on another device.",
  "notice.otherDevice.therapist": "Your therapist's link was opened on another device.",
  "error.room-closed": "The appointment time is over. The room is closed.",
  "error.consent-required": "Please confirm the terms of use and the consent first.",
  "error.bad-name": "This name is not possible. Please choose another one (at most 64 characters, no word such as “therapist” or “client”).",
  "error.generic": "A technical problem occurred. Please reload the page.",

  // quality.js: the call quality indicator and "audio only" (issue 11, item 4)
  "quality.good": "The connection is good.",
  "quality.receive.weak": "Your connection is weak: the other person's picture and sound may stutter.",
  "quality.receive.veryWeak": "Your connection is very weak: the other person's picture and sound arrive with gaps.",
  "quality.send.weak": "The connection to the other person is weak: your picture is reduced so that you stay easy to hear.",
  "quality.send.veryWeak": "The connection to the other person is very weak: your picture hardly arrives.",
  "quality.offer": "With “Audio only” the conversation stays clear.",
  "quality.switched": "Because the connection is weak, only sound is on. “Audio only” turns the picture back on.",
  "quality.recovered": "The connection is good again. “Audio only” turns the picture back on.",
  "quality.peerAudioOnly": "The other person switched to “Audio only”: you still hear each other but do not see each other.",
  "quality.audioOnly": "Audio only",
};

/** @type {Record<Lang, typeof de>} */
export const TEXTS = { de, en };

/**
 * pickLanguage returns the language of the page: the first of the browser's
 * languages that is German or English, else the room's default, else German.
 * @param {readonly string[]} browserLanguages navigator.languages
 * @param {string} [roomDefault] welcome.language
 * @returns {Lang}
 */
export function pickLanguage(browserLanguages, roomDefault) {
  for (const tag of browserLanguages ?? []) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "de" || base === "en") return base;
  }
  return roomDefault === "en" ? "en" : "de";
}

/**
 * Translator holds the current language and fills the page's texts.
 */
export class Translator {
  /** @param {Lang} lang */
  constructor(lang) {
    /** @type {Lang} */
    this.lang = lang;
  }

  /**
   * t returns the text for key with {placeholders} filled from params.
   * @param {keyof typeof de} key
   * @param {Record<string, string>} [params]
   * @returns {string}
   */
  t(key, params = {}) {
    const text = TEXTS[this.lang][key] ?? TEXTS.de[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => params[name] ?? "");
  }

  /**
   * apply fills every element under root that has data-i18n (text) or
   * data-i18n-aria (aria-label) and sets the document language.
   * @param {ParentNode} root
   */
  apply(root) {
    document.documentElement.lang = this.lang;
    for (const el of root.querySelectorAll("[data-i18n]")) {
      el.textContent = this.t(/** @type {any} */ (el.getAttribute("data-i18n")));
    }
    for (const el of root.querySelectorAll("[data-i18n-aria]")) {
      el.setAttribute("aria-label", this.t(/** @type {any} */ (el.getAttribute("data-i18n-aria"))));
    }
  }
}
