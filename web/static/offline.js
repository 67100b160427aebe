// @ts-check
// What the page says while the room's server cannot be reached (issue 11,
// item 7): after a few quiet seconds a plain message with advice, when the
// next automatic try comes, and a button that tries at once. The page keeps
// trying by itself (signaling.js); this module only speaks.

/** How long the page tries quietly before it says the server is unreachable. */
export const QUIET_MS = 4000;

/**
 * nextTryText is what the notice says about the next automatic try.
 * @param {number} nextTry when the next try is due (Date.now()); 0: none scheduled
 * @param {number} now Date.now()
 * @returns {{key: "offline.next"|"offline.nextOne"|"offline.trying", seconds: number}}
 */
export function nextTryText(nextTry, now) {
  const seconds = Math.ceil((nextTry - now) / 1000);
  if (seconds > 1) return { key: "offline.next", seconds };
  return seconds === 1 ? { key: "offline.nextOne", seconds } : { key: "offline.trying", seconds: 0 };
}

/**
 * ServerNotice shows the "server unreachable" notice: the element with id
 * "offline" holds a text (role alert, said once), a line about the next
 * try (updated every second, not announced) and the "try now" button.
 * body data-offline is "true" while it shows.
 */
export class ServerNotice {
  /**
   * @param {Document} doc
   * @param {import("./i18n.js").Translator} tr
   * @param {() => number} nextTry when the next automatic try is due (Date.now()), 0 if none
   * @param {() => void} retry tries at once
   */
  constructor(doc, tr, nextTry, retry) {
    this.doc = doc;
    this.tr = tr;
    this.nextTry = nextTry;
    this.box = /** @type {HTMLElement} */ (doc.getElementById("offline"));
    this.text = /** @type {HTMLElement} */ (doc.getElementById("offline-text"));
    this.next = /** @type {HTMLElement} */ (doc.getElementById("offline-next"));
    this.button = /** @type {HTMLButtonElement} */ (doc.getElementById("offline-retry"));
    this.quiet = 0;
    this.ticker = 0;
    this.button.addEventListener("click", () => {
      retry();
      this.tick();
    });
  }

  /** expect: a connection is on its way; if it is not open within QUIET_MS, say so. */
  expect() {
    if (this.quiet || !this.box.hidden) return;
    this.quiet = setTimeout(() => this.show(), QUIET_MS);
  }

  /** opened: the server answered (or refused for good); the notice goes. */
  opened() {
    clearTimeout(this.quiet);
    clearInterval(this.ticker);
    this.quiet = 0;
    this.ticker = 0;
    this.box.hidden = true;
    delete this.doc.body.dataset.offline;
  }

  show() {
    this.quiet = 0;
    this.text.textContent = this.tr.t("offline.message");
    this.button.textContent = this.tr.t("offline.retry");
    this.tick();
    this.ticker = setInterval(() => this.tick(), 1000);
    this.box.hidden = false;
    this.doc.body.dataset.offline = "true";
  }

  /** tick says when the next try comes. */
  tick() {
    const { key, seconds } = nextTryText(this.nextTry(), Date.now());
    this.next.textContent = this.tr.t(key, { seconds: String(seconds) });
  }
}
