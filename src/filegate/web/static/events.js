// The one EventSource of the page: every ticket's events arrive on it.
//
// Browsers allow six connections per origin over HTTP/1.1: one stream per ticket would
// starve the page's own calls, so all tickets share this one.

import { onThisOrigin } from "./api.js";

const TYPES = ["status", "progress", "position", "part_ready"];
const REMEMBERED_IDS = 5000;

export class EventFeed {
  constructor({ onEvent, onResync, onConnection, onClosed }) {
    this.onEvent = onEvent;
    this.onResync = onResync;
    this.onConnection = onConnection; // "open" | "reconnecting"
    this.onClosed = onClosed; // the browser gave up: a fresh URL is needed
    this.source = null;
    this.applied = new Set();
  }

  /** Follow every ticket from just after ``cursor`` (the cursor GET /tickets answered with). */
  open(eventsUrl, cursor) {
    this.close();
    const url = new URL(onThisOrigin(eventsUrl));
    if (cursor) url.searchParams.set("after", cursor);
    const source = new EventSource(url.href);
    this.source = source;
    for (const type of TYPES) source.addEventListener(type, (message) => this.handle(type, message));
    source.addEventListener("resync", () => this.onResync());
    source.addEventListener("open", () => this.onConnection("open"));
    source.addEventListener("error", () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CONNECTING) {
        // The browser reconnects by itself, sending Last-Event-ID: the server resumes after it.
        this.onConnection("reconnecting");
      } else if (source.readyState === EventSource.CLOSED) {
        this.source = null;
        this.onConnection("reconnecting");
        this.onClosed();
      }
    });
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }

  get isOpen() {
    return this.source !== null;
  }

  handle(type, message) {
    const id = message.lastEventId;
    // The server neither repeats nor skips events after a reconnect; this guards the page anyway.
    if (id) {
      if (this.applied.has(id)) return;
      this.applied.add(id);
      if (this.applied.size > REMEMBERED_IDS) this.applied.delete(this.applied.values().next().value);
    }
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (data && typeof data.ticket_id === "string") this.onEvent(type, data, id);
  }
}
