// @ts-check
// The WebSocket to the room's signaling server: hello on every (re)connect,
// JSON envelopes, and reconnects with backoff after a drop.

import { VERSION, FATAL_CLOSE, FATAL_CODES } from "./protocol.js";

/**
 * socketURL returns the WebSocket URL "ws" relative to the page, so the page
 * works under any path prefix (/r/<room-id>/).
 * @param {string} pageURL location.href
 * @returns {string}
 */
export function socketURL(pageURL) {
  const url = new URL("ws", pageURL);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  url.search = "";
  return url.href;
}

/**
 * backoff returns the wait before reconnect attempt n (0-based): doubling
 * from 500 ms up to 10 s, with up to 25 % jitter.
 * @param {number} n
 * @returns {number} milliseconds
 */
export function backoff(n) {
  const base = Math.min(10000, 500 * 2 ** n);
  return base * (0.75 + Math.random() * 0.25);
}

/**
 * How long a socket may stay "connecting" before it is given up and tried
 * again: a network that swallows packets (a dead Wi-Fi, a captive portal)
 * would otherwise hold it for minutes, with no retry in between.
 */
export const CONNECT_TIMEOUT_MS = 8000;

/**
 * Signaling is one logical connection to the room that survives drops. It
 * dispatches:
 *  - "open": a socket is open and hello is sent
 *  - "message": detail {type, data} for every envelope from the server
 *  - "drop": the socket closed and a reconnect is scheduled
 *  - "fatal": detail {code} (an error code): closed for good
 */
export class Signaling extends EventTarget {
  /**
   * @param {string} url the WebSocket URL
   * @param {string} token the join token
   */
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    /** The error code of the last fatal error message, if any. */
    this.fatalCode = "";
    this.timer = 0;
    /** When (Date.now()) the next reconnect is due; 0 while none is scheduled. */
    this.nextTry = 0;
    /** The types of the last messages in and out, for tests and debugging. */
    this.trace = /** @type {string[]} */ ([]);
  }

  /** @param {string} entry */
  note(entry) {
    this.trace.push(entry);
    if (this.trace.length > 100) this.trace.shift();
  }

  /** connect opens the socket; on a drop it reconnects by itself. */
  connect() {
    if (this.stopped) return;
    this.nextTry = 0;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    const opening = setTimeout(() => {
      if (ws.readyState === WebSocket.CONNECTING) ws.close();
    }, CONNECT_TIMEOUT_MS);
    // A page that sent its hello and still hears "hello-required" was too
    // slow for the server's hello timeout (a busy phone, a stalled tab):
    // that is worth another try, not the end.
    let helloSent = false;
    const final = (/** @type {string|undefined} */ code) => code === "hello-required" && helloSent ? "" : code ?? "";
    ws.onopen = () => {
      clearTimeout(opening);
      this.attempt = 0;
      helloSent = this.sendOn(ws, "hello", { version: VERSION, token: this.token });
      this.dispatchEvent(new CustomEvent("open"));
    };
    ws.onmessage = (ev) => {
      let env;
      try {
        env = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (typeof env?.type !== "string") return;
      if (env.type === "error" && env.data?.code) {
        const code = String(env.data.code);
        if (FATAL_CODES.has(code)) this.fatalCode = final(code);
      }
      this.note(`in:${env.type}${env.type === "error" ? `:${env.data?.code}` : ""}`);
      this.dispatchEvent(new CustomEvent("message", { detail: { type: env.type, data: env.data ?? {} } }));
    };
    ws.onclose = (ev) => {
      clearTimeout(opening);
      this.note(`close:${ev.code}`);
      if (this.ws !== ws) return;
      this.ws = null;
      // A fatal close code ends the connection; the error message before it
      // (if any) says which of the codes sharing 4000 it was.
      const code = this.fatalCode || final(FATAL_CLOSE[ev.code]);
      if (code) {
        this.stop();
        this.dispatchEvent(new CustomEvent("fatal", { detail: { code } }));
        return;
      }
      if (this.stopped) return;
      const wait = backoff(this.attempt++);
      this.nextTry = Date.now() + wait;
      this.timer = setTimeout(() => this.connect(), wait);
      this.dispatchEvent(new CustomEvent("drop", { detail: { wait } }));
    };
  }

  /**
   * send sends one envelope if the socket is open; it reports whether it did.
   * @param {import("./protocol.js").BrowserType} type
   * @param {object} [data]
   * @returns {boolean}
   */
  send(type, data = {}) {
    return this.ws ? this.sendOn(this.ws, type, data) : false;
  }

  /**
   * @param {WebSocket} ws
   * @param {import("./protocol.js").BrowserType} type
   * @param {object} data
   * @returns {boolean}
   */
  sendOn(ws, type, data) {
    if (ws.readyState !== WebSocket.OPEN) {
      this.note(`unsent:${type}`);
      return false;
    }
    this.note(`out:${type}`);
    ws.send(JSON.stringify({ type, data }));
    return true;
  }

  /** drop closes the current socket as a network failure would; it reconnects. */
  drop() {
    this.ws?.close(3001, "drop");
  }

  /**
   * retryNow tries to reach the server at once instead of at the next
   * scheduled reconnect, as a person's "try again" asks.
   */
  retryNow() {
    if (this.stopped || this.ws?.readyState === WebSocket.OPEN) return;
    this.note("retry");
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.connect();
  }

  /** stop closes the connection for good. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
  }
}
