// @ts-check
// Texts of the page in German and English, and the choice between them.

/** @typedef {"de"|"en"} Lang */

const de = {
  "title": "Sprechzimmer",
  "waiting.heading": "Wartezimmer",
  "waiting.intro": "Bitte prüfen Sie Kamera und Mikrofon. Wenn Sie bereit sind, treten Sie ein.",
  "waiting.expires": "Dieser Termin ist gültig bis {time} Uhr.",
  "preview.label": "Ihr eigenes Kamerabild",
  "devices.camera": "Kamera",
  "devices.microphone": "Mikrofon",
  "devices.none": "keine gefunden",
  "level.label": "Mikrofonpegel",
  "name.label": "Ihr Name für das Gespräch (freiwillig)",
  "name.hint": "Höchstens 64 Zeichen. Er wird nur Ihrem Gegenüber angezeigt und nach dem Termin gelöscht.",
  "consent.heading": "Nutzungsbedingungen und Einwilligung",
  "terms.summary": "Nutzungsbedingungen lesen (Stand {version})",
  "terms.text": "Das Sprechzimmer verbindet genau zwei Personen: Sie und Ihre Therapeutin oder Ihren Therapeuten. Bild und Ton werden verschlüsselt direkt zwischen Ihren Geräten übertragen und zu keinem Zeitpunkt aufgezeichnet, weder von uns noch von anderen. Der Server vermittelt nur den Verbindungsaufbau und leitet, wenn keine direkte Verbindung möglich ist, die verschlüsselten Daten weiter, ohne sie lesen zu können. Ein Anzeigename ist freiwillig und wird nur für die Dauer des Termins im Arbeitsspeicher gehalten. Bitte sorgen Sie für eine ruhige, ungestörte Umgebung. Bild- und Tonaufzeichnungen des Gesprächs sind auch Ihnen nicht gestattet.",
  "consent.terms": "Ich habe die Nutzungsbedingungen gelesen und akzeptiere sie.",
  "consent.processing": "Ich willige ein, dass die für die Videositzung unbedingt nötigen Daten (Verbindungsdaten, freiwilliger Anzeigename) für die Dauer des Termins verarbeitet werden.",
  "consent.therapist": "Sie nehmen als Therapeutin oder Therapeut teil. Ihre Klientin oder Ihr Klient bestätigt die Nutzungsbedingungen und die Einwilligung im Wartezimmer.",
  "consent.required": "Bitte bestätigen Sie zuerst die Nutzungsbedingungen und die Einwilligung.",
  "test.button": "Verbindung testen",
  "test.running": "Verbindungstest läuft …",
  "enter.button": "Sprechzimmer betreten",
  "name.tooLong": "Der Name ist zu lang (höchstens 64 Zeichen).",
  "name.role": "Bitte wählen Sie einen anderen Namen: Bezeichnungen wie „Therapeut“, „Klientin“, „Sprechzimmer“ oder „Admin“ sind als Name nicht möglich.",
  "name.marks": "Der Name besteht zu großen Teilen aus Akzent- oder Zusatzzeichen. Bitte geben Sie ihn ohne diese Zeichen ein.",
  "status.connecting": "Verbindung zum Server wird hergestellt …",
  "status.waiting": "Warten auf Ihr Gegenüber …",
  "status.peerGone": "Die Verbindung Ihres Gegenübers ist abgebrochen. Wir warten, bis die Person zurück ist …",
  "status.calling": "Verbindung wird aufgebaut …",
  "status.connected": "Verbunden",
  "status.connectedWith": "Verbunden mit {name}",
  "status.reconnecting": "Verbindung unterbrochen. Neuer Versuch …",
  "status.ended": "Sie haben das Gespräch beendet.",
  "role.therapist": "Ihre Therapeutin oder Ihr Therapeut",
  "role.client": "Ihre Klientin oder Ihr Klient",
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
  "error.room-full": "Dieser Link wird gerade in einem anderen Fenster oder auf einem anderen Gerät benutzt. Das Gespräch läuft dort weiter.",
  "error.replaced": "Das Gespräch wird in einem anderen Fenster fortgesetzt.",
  "error.reclaimed": "Das Gerät, auf dem dieser Link zuerst benutzt wurde, ist zurück. Das Gespräch wird dort fortgesetzt.",
  "error.seat-taken": "Mit diesem Link ist gerade ein anderes Gerät im Sprechzimmer. Sie können es erneut versuchen, sobald es das Sprechzimmer verlassen hat.",
  "notice.otherDevice.client": "Der Link Ihrer Klientin oder Ihres Klienten wurde auf einem anderen Gerät geöffnet.",
  "notice.otherDevice.therapist": "Der Link Ihrer Therapeutin oder Ihres Therapeuten wurde auf einem anderen Gerät geöffnet.",
  "error.room-closed": "Die Zeit für diesen Termin ist abgelaufen. Das Sprechzimmer ist geschlossen.",
  "error.consent-required": "Bitte bestätigen Sie zuerst die Nutzungsbedingungen und die Einwilligung.",
  "error.bad-name": "Dieser Name ist nicht möglich. Bitte wählen Sie einen anderen (höchstens 64 Zeichen, keine Bezeichnung wie „Therapeut“ oder „Klientin“).",
  "error.generic": "Es ist ein technisches Problem aufgetreten. Bitte laden Sie die Seite neu.",

  // ---- media (issue 11 items 3, 6, 7): device and network test, phones, hang-up ----
  "devices.both": "Kamera und Mikrofon",
  "devices.speaker": "Lautsprecher",
  "devices.unnamed": "Gerät {n}",
  "media.retry": "Erneut versuchen",
  "problem.refused": "{device}: nicht freigegeben. Erlauben Sie den Zugriff für diese Seite in den Einstellungen Ihres Browsers (auf Telefon oder Tablet auch in den Einstellungen des Geräts unter Datenschutz) und wählen Sie dann „Erneut versuchen“.",
  "problem.busy": "{device}: wird gerade von einem anderen Programm oder Fenster benutzt, etwa einem anderen Videogespräch. Beenden Sie es und wählen Sie dann „Erneut versuchen“.",
  "problem.missing": "{device}: nicht gefunden. Schließen Sie das Gerät an oder schalten Sie es ein und wählen Sie dann „Erneut versuchen“.",
  "problem.constraints": "{device}: das gewählte Gerät lässt sich nicht öffnen. Bitte wählen Sie ein anderes in der Liste.",
  "problem.insecure": "{device}: gesperrt, weil diese Seite nicht über eine sichere Verbindung geöffnet wurde. Bitte öffnen Sie den Link genau so, wie Sie ihn erhalten haben (er beginnt mit https://).",
  "problem.failed": "{device}: ließ sich nicht starten. Wählen Sie „Erneut versuchen“ oder starten Sie den Browser neu.",
  "device.ok": "{device}: funktioniert.",
  "speaker.test": "Ton abspielen",
  "speaker.playing": "Sie sollten jetzt einen kurzen Ton hören.",
  "speaker.played": "Haben Sie den Ton gehört? Wenn nicht, prüfen Sie die Lautstärke oder wählen Sie einen anderen Lautsprecher.",
  "speaker.failed": "Der Ton ließ sich nicht abspielen.",
  "nettest.ok": "Alles bereit.",
  "nettest.problems": "Nicht alles funktioniert:",
  "nettest.missing.audio": "Ton",
  "nettest.missing.video": "Bild",
  "nettest.relay.ok": "Verbindung über den Umweg-Server: funktioniert, Bild und Ton kommen an.",
  "nettest.relay.partial": "Verbindung über den Umweg-Server: steht, aber es kommt nicht alles an ({missing}).",
  "nettest.relay.failed": "Verbindung über den Umweg-Server: nicht erreichbar. In manchen Netzen (Firma, Hotel, Praxis) kommt dann keine Verbindung zustande; versuchen Sie ein anderes Netz, zum Beispiel das Mobilnetz.",
  "nettest.local.ok": "Bild und Ton lassen sich in diesem Browser senden und empfangen.",
  "nettest.local.failed": "Bild und Ton ließen sich in diesem Browser nicht senden und empfangen.",
  "nettest.stun.ok": "Direkte Verbindung: möglich, Ihr Gerät erreicht den Server für den Verbindungsaufbau.",
  "nettest.stun.failed": "Direkte Verbindung: Ihr Gerät erreicht den Server für den Verbindungsaufbau nicht; das Gespräch läuft dann über den Umweg-Server.",
  "nettest.private": "Bild und Ton blieben dabei in Ihrem Browser: sie haben Ihr Gerät nur verschlüsselt verlassen.",
  "enter.why.connecting": "Der Knopf wird frei, sobald die Verbindung zum Server steht.",
  "enter.why.consent": "Der Knopf wird frei, sobald Sie beide Kästchen oben angekreuzt haben.",
  "enter.why.joining": "Sie werden eingelassen …",
  "call.switchCamera": "Andere Kamera",
  "device.the.camera": "die Kamera",
  "device.the.microphone": "das Mikrofon",
  "notice.trackEnded": "Ihr Gerät hat {device} unterbrochen. Es wird versucht, {device} wieder einzuschalten …",
  "notice.trackMuted": "Ihr Gerät hat {device} angehalten, zum Beispiel wegen eines Anrufs oder weil eine andere App darauf zugreift. Sobald Sie zurück sind, geht es weiter.",
  "notice.trackLost": "Ihr Gerät gibt {device} nicht wieder frei. Prüfen Sie, ob eine andere App darauf zugreift, und betreten Sie das Gespräch dann neu.",
  "ended.close": "Kamera und Mikrofon sind aus. Sie können dieses Fenster jetzt schließen.",
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
  // ---- admission, the other person's state, chat, closing, offline (issue 11: admit) ----
  "waiting.startsAt": "Ihr Termin beginnt um {time} Uhr.",
  "seat.inUse": "Dieser Link ist gerade in einem anderen Fenster oder auf einem anderen Gerät geöffnet. Sie können hier fortfahren; das andere Fenster wird dann geschlossen.",
  "seat.continueHere": "Hier fortfahren",
  "admission.wait": "Sie sind im Wartezimmer. Ihre Therapeutin oder Ihr Therapeut holt Sie gleich herein. Bitte bleiben Sie auf dieser Seite.",
  "admission.waiting": "{name} wartet im Wartezimmer.",
  "admission.waitingUnnamed": "Ihre Klientin oder Ihr Klient wartet im Wartezimmer.",
  "admission.title": "{name} wartet – Sprechzimmer",
  "admission.admit": "Hereinlassen",
  "admission.check": "Eigener Test: Kamera {camera}, Mikrofon {microphone}, Verbindung {connection}.",
  "check.ok": "funktioniert",
  "check.refused": "nicht erlaubt",
  "check.missing": "nicht gefunden",
  "check.busy": "belegt",
  "check.failed": "mit Problem",
  "check.untested": "nicht getestet",
  "status.admission": "Im Wartezimmer",
  "call.heading": "Gespräch",
  "call.endForBoth": "Gespräch für beide beenden",
  "ended.heading": "Gespräch beendet",
  "ended.byTherapist": "Ihre Therapeutin oder Ihr Therapeut hat das Gespräch beendet. Sie können dieses Fenster jetzt schließen.",
  "peer.notThere": "Ihr Gegenüber ist noch nicht da.",
  "peer.joined": "Ihr Gegenüber ist da. Die Verbindung wird aufgebaut …",
  "peer.connected": "Sie sind mit Ihrem Gegenüber verbunden.",
  "peer.cameraOff": "Die Kamera Ihres Gegenübers ist aus.",
  "peer.muted": "Das Mikrofon Ihres Gegenübers ist aus.",
  "peer.reconnecting": "Die Verbindung ist unterbrochen und wird wiederhergestellt …",
  "peer.left": "Ihr Gegenüber hat das Gespräch verlassen.",
  "peer.clientWaiting": "Ihre Klientin oder Ihr Klient wartet im Wartezimmer.",
  "chat.button": "Nachrichten",
  "chat.heading": "Nachrichten",
  "chat.note": "Nachrichten gehen direkt an Ihr Gegenüber. Sie werden nirgends gespeichert und sind weg, sobald Sie die Seite schließen.",
  "chat.label": "Nachricht schreiben",
  "chat.send": "Senden",
  "chat.you": "Sie",
  "chat.other": "Gegenüber",
  "chat.new": "Neue Nachricht: {text}",
  "chat.unread": "{n} ungelesen",
  "offline.message": "Der Server ist gerade nicht erreichbar. Wir versuchen es automatisch weiter. Bitte prüfen Sie Ihre Internetverbindung (WLAN oder mobile Daten).",
  // ---- offline.js: server unreachable, next try, try now (issue 11 item 7: ui11) ----
  "offline.next": "Nächster Versuch in {seconds} Sekunden.",
  "offline.nextOne": "Nächster Versuch in 1 Sekunde.",
  "offline.trying": "Verbindung wird versucht …",
  "offline.retry": "Jetzt erneut versuchen",
  "closing.ten": "Das Sprechzimmer schließt in 10 Minuten, um {time} Uhr.",
  "closing.two": "Das Sprechzimmer schließt in 2 Minuten, um {time} Uhr.",
  // The network check (netcheck.js): no path for the call through this network.
  "network.blocked": "Ihr Netzwerk lässt die Verbindung für Bild und Ton nicht durch.",
  "network.noPath": "Die Verbindung für Bild und Ton kommt nicht zustande. Vielleicht lässt Ihr Netzwerk oder das Ihres Gegenübers sie nicht durch.",
  "network.try": "Das können Sie versuchen:",
  "network.tryOther": "ein anderes Netzwerk, zum Beispiel das WLAN zu Hause",
  "network.tryMobile": "die mobilen Daten Ihres Telefons (WLAN dafür ausschalten)",
  "network.tryIT": "die IT Ihrer Einrichtung bitten, Verbindungen über Port 443 (TCP) zu erlauben",
};

/** @type {typeof de} */
const en = {
  "title": "Sprechzimmer",
  "waiting.heading": "Waiting room",
  "waiting.intro": "Please check your camera and microphone. When you are ready, come in.",
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
  "enter.button": "Enter the consultation room",
  "name.tooLong": "The name is too long (at most 64 characters).",
  "name.role": "Please choose another name: words such as “therapist”, “client”, “Sprechzimmer” or “admin” cannot be used as a name.",
  "name.marks": "The name consists largely of accents or other combining marks. Please enter it without them.",
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
  "error.room-full": "This link is in use in another window or on another device right now. The call goes on there.",
  "error.replaced": "The call continues in another window.",
  "error.reclaimed": "The device that used this link first is back. The call continues there.",
  "error.seat-taken": "Another device is in the room with this link right now. You can try again once it has left.",
  "notice.otherDevice.client": "Your client's link was opened on another device.",
  "notice.otherDevice.therapist": "Your therapist's link was opened on another device.",
  "error.room-closed": "The appointment time is over. The room is closed.",
  "error.consent-required": "Please confirm the terms of use and the consent first.",
  "error.bad-name": "This name is not possible. Please choose another one (at most 64 characters, no word such as “therapist” or “client”).",
  "error.generic": "A technical problem occurred. Please reload the page.",

  // ---- media (issue 11 items 3, 6, 7): device and network test, phones, hang-up ----
  "devices.both": "Camera and microphone",
  "devices.speaker": "Speaker",
  "devices.unnamed": "Device {n}",
  "media.retry": "Try again",
  "problem.refused": "{device}: not allowed. Allow access for this page in your browser's settings (on a phone or tablet also in the device's privacy settings), then choose “Try again”.",
  "problem.busy": "{device}: in use by another program or window, such as another video call. End it, then choose “Try again”.",
  "problem.missing": "{device}: none found. Connect or switch on the device, then choose “Try again”.",
  "problem.constraints": "{device}: the chosen device cannot be opened. Please choose another one in the list.",
  "problem.insecure": "{device}: blocked because this page was not opened over a secure connection. Please open the link exactly as you received it (it starts with https://).",
  "problem.failed": "{device}: could not be started. Choose “Try again” or restart the browser.",
  "device.ok": "{device}: works.",
  "speaker.test": "Play a sound",
  "speaker.playing": "You should hear a short tone now.",
  "speaker.played": "Did you hear the tone? If not, check the volume or choose another speaker.",
  "speaker.failed": "The sound could not be played.",
  "nettest.ok": "All set.",
  "nettest.problems": "Not everything works:",
  "nettest.missing.audio": "sound",
  "nettest.missing.video": "picture",
  "nettest.relay.ok": "Connection through the relay server: works, picture and sound arrive.",
  "nettest.relay.partial": "Connection through the relay server: up, but not everything arrives ({missing}).",
  "nettest.relay.failed": "Connection through the relay server: not reachable. In some networks (office, hotel, practice) no connection can be made then; try another network, for example mobile data.",
  "nettest.local.ok": "Picture and sound can be sent and received in this browser.",
  "nettest.local.failed": "Picture and sound could not be sent and received in this browser.",
  "nettest.stun.ok": "Direct connection: possible, your device reaches the server that sets up connections.",
  "nettest.stun.failed": "Direct connection: your device does not reach the server that sets up connections; the call then runs through the relay server.",
  "nettest.private": "Picture and sound stayed in your browser: they left your device only encrypted.",
  "enter.why.connecting": "The button becomes available once the connection to the server is up.",
  "enter.why.consent": "The button becomes available once you have ticked both boxes above.",
  "enter.why.joining": "You are being let in …",
  "call.switchCamera": "Other camera",
  "device.the.camera": "the camera",
  "device.the.microphone": "the microphone",
  "notice.trackEnded": "Your device interrupted {device}. Switching it on again …",
  "notice.trackMuted": "Your device paused {device}, for example because of a phone call or another app using it. It continues once you are back.",
  "notice.trackLost": "Your device does not give {device} back. Check whether another app uses it, then enter the call again.",
  "ended.close": "Camera and microphone are off. You can close this window now.",
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
  // ---- admission, the other person's state, chat, closing, offline (issue 11: admit) ----
  "waiting.startsAt": "Your appointment starts at {time}.",
  "seat.inUse": "This link is open in another window or on another device right now. You can continue here; the other window will then be closed.",
  "seat.continueHere": "Continue here",
  "admission.wait": "You are in the waiting room. Your therapist will let you in shortly. Please stay on this page.",
  "admission.waiting": "{name} is waiting in the waiting room.",
  "admission.waitingUnnamed": "Your client is waiting in the waiting room.",
  "admission.title": "{name} is waiting – Sprechzimmer",
  "admission.admit": "Let in",
  "admission.check": "Own test: camera {camera}, microphone {microphone}, connection {connection}.",
  "check.ok": "works",
  "check.refused": "not allowed",
  "check.missing": "not found",
  "check.busy": "in use",
  "check.failed": "has a problem",
  "check.untested": "not tested",
  "status.admission": "In the waiting room",
  "call.heading": "Conversation",
  "call.endForBoth": "End the conversation for both",
  "ended.heading": "Conversation ended",
  "ended.byTherapist": "Your therapist has ended the conversation. You can close this window now.",
  "peer.notThere": "The other person is not here yet.",
  "peer.joined": "The other person is here. Connecting …",
  "peer.connected": "You are connected with the other person.",
  "peer.cameraOff": "The other person's camera is off.",
  "peer.muted": "The other person's microphone is off.",
  "peer.reconnecting": "The connection is interrupted and is being restored …",
  "peer.left": "The other person has left the conversation.",
  "peer.clientWaiting": "Your client is waiting in the waiting room.",
  "chat.button": "Messages",
  "chat.heading": "Messages",
  "chat.note": "Messages go directly to the other person. They are not stored anywhere and are gone once you close the page.",
  "chat.label": "Write a message",
  "chat.send": "Send",
  "chat.you": "You",
  "chat.other": "Other person",
  "chat.new": "New message: {text}",
  "chat.unread": "{n} unread",
  "offline.message": "The server cannot be reached right now. We keep trying automatically. Please check your internet connection (Wi-Fi or mobile data).",
  // ---- offline.js: server unreachable, next try, try now (issue 11 item 7: ui11) ----
  "offline.next": "Next try in {seconds} seconds.",
  "offline.nextOne": "Next try in 1 second.",
  "offline.trying": "Trying to connect …",
  "offline.retry": "Try again now",
  "closing.ten": "The room closes in 10 minutes, at {time}.",
  "closing.two": "The room closes in 2 minutes, at {time}.",
  // The network check (netcheck.js): no path for the call through this network.
  "network.blocked": "Your network does not let the connection for picture and sound through.",
  "network.noPath": "The connection for picture and sound does not come about. Your network or the other person's may not let it through.",
  "network.try": "What you can try:",
  "network.tryOther": "another network, for example the Wi-Fi at home",
  "network.tryMobile": "your phone's mobile data (with Wi-Fi turned off)",
  "network.tryIT": "ask your organisation's IT to allow connections over port 443 (TCP)",
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
