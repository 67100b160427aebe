// @ts-check
// The chat panel of the call: messages go over the PeerLink (the call's
// data channel) to the other browser only and live in this page's memory;
// closing the page forgets them. New messages from the other person count
// as unread while the panel is closed and are announced to screen readers.

import { MAX_CHAT } from "./peerlink.js";

/**
 * @typedef {object} ChatElements
 * @property {HTMLButtonElement} toggle the button that opens and closes the panel (aria-pressed)
 * @property {HTMLElement} unread the badge with the number of unread messages
 * @property {HTMLElement} panel the panel
 * @property {HTMLOListElement} log the list of messages (role=log)
 * @property {HTMLFormElement} form
 * @property {HTMLInputElement} input
 * @property {HTMLElement} announce a polite live region for messages that arrive while the panel is closed
 */

export class Chat {
  /**
   * @param {ChatElements} el
   * @param {(key: any, params?: Record<string, string>) => string} t the translator
   * @param {(text: string) => boolean} send sends a message to the other person; false when not connected
   */
  constructor(el, t, send) {
    this.el = el;
    this.t = t;
    this.send = send;
    this.unread = 0;
    el.toggle.addEventListener("click", () => this.setOpen(el.panel.hidden));
    el.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = el.input.value.trim().slice(0, MAX_CHAT);
      if (!text || !this.send(text)) return;
      el.input.value = "";
      this.add(this.t("chat.you"), text);
    });
  }

  /** @param {boolean} open */
  setOpen(open) {
    this.el.panel.hidden = !open;
    this.el.toggle.setAttribute("aria-pressed", String(open));
    if (open) {
      this.unread = 0;
      this.render();
      this.el.input.focus();
    }
  }

  /**
   * received shows a message from the other person.
   * @param {string} text
   */
  received(text) {
    this.add(this.t("chat.other"), text);
    if (this.el.panel.hidden) {
      this.unread++;
      this.render();
      // The log is not read out while the panel is hidden.
      this.el.announce.textContent = this.t("chat.new", { text });
    }
  }

  /**
   * @param {string} who
   * @param {string} text
   */
  add(who, text) {
    const li = document.createElement("li");
    const b = document.createElement("strong");
    b.textContent = `${who}: `;
    li.append(b, text);
    this.el.log.append(li);
    li.scrollIntoView?.({ block: "nearest" });
  }

  render() {
    this.el.unread.hidden = this.unread === 0;
    this.el.unread.textContent = String(this.unread);
    this.el.unread.setAttribute("aria-label", this.t("chat.unread", { n: String(this.unread) }));
  }

  /** clear forgets every message (a new call, another person). */
  clear() {
    this.el.log.replaceChildren();
    this.unread = 0;
    this.render();
  }
}
