// The downloads panel: one card per ticket, following the page's one event stream.

import { del, get, onThisOrigin } from "./api.js";
import { describeReason, formatDate, formatDuration, formatSize, formatSpeed, plural } from "./format.js";

const FINAL = new Set(["ready", "failed", "cancelled", "expired"]);
// A later state never gives way to an earlier one (a list fetched before an event arrived).
const RANK = { queued: 0, preparing: 1, ready: 2, failed: 2, cancelled: 2, expired: 3 };
const DISMISSED = "filegate.dismissed";
const SPEED_WINDOW_MS = 8000;
const RESULT_TRIES = 15;
const HELD_TICKETS = 50;
const HELD_EVENTS = 20;
const RETRY_MS = 2000;

const HEADLINES = {
  queued: "Waiting in line",
  preparing: "Preparing the archive",
  ready: "Ready to download",
  failed: "The archive could not be made",
  cancelled: "Cancelled",
  expired: "Expired: the links no longer work",
};

export class Downloads {
  constructor(elements, { onError, announce }) {
    this.el = elements; // { list, empty }
    this.onError = onError;
    this.announce = announce;
    this.tickets = new Map();
    this.held = new Map(); // ticket id → events that came before the ticket was known here
    this.dismissed = new Set(JSON.parse(sessionStorage.getItem(DISMISSED) || "[]"));
  }

  has(ticketId) {
    return this.tickets.has(ticketId) || this.dismissed.has(ticketId);
  }

  clear() {
    this.tickets.clear();
    this.el.list.replaceChildren();
    this.el.empty.hidden = false;
  }

  /**
   * An event for a ticket not known yet: its first events may come before POST /download has
   * answered, or before GET /tickets lists a ticket made in another tab. Kept, a few per ticket,
   * and applied when the ticket arrives.
   */
  hold(type, data) {
    if (!this.held.has(data.ticket_id)) {
      if (this.held.size >= HELD_TICKETS) this.held.delete(this.held.keys().next().value);
      this.held.set(data.ticket_id, []);
    }
    const events = this.held.get(data.ticket_id);
    events.push([type, data]);
    if (events.length > HELD_EVENTS) events.shift();
  }

  /** Tickets as GET /tickets lists them (newest first); what is known already is kept. */
  merge(listed) {
    for (const state of [...listed].reverse()) {
      if (this.dismissed.has(state.ticket_id)) continue;
      const known = this.tickets.get(state.ticket_id);
      if (known) this.update(known, state);
      else this.add(state);
    }
  }

  /** A ticket just created here (POST /download's answer) or newly listed. */
  add(state, { announce = false } = {}) {
    if (this.tickets.has(state.ticket_id) || this.dismissed.has(state.ticket_id)) return;
    const ticket = { ...state, samples: [], result: null, card: null };
    this.tickets.set(ticket.ticket_id, ticket);
    ticket.card = this.renderCard(ticket);
    this.el.list.prepend(ticket.card.root);
    this.el.empty.hidden = true;
    this.refresh(ticket);
    for (const [type, data] of this.held.get(ticket.ticket_id) || []) {
      // A listing may already show later figures than what was held.
      if (type === "progress" && ticket.progress && data.bytes_done < ticket.progress.bytes_done) continue;
      this.apply(type, data);
    }
    this.held.delete(ticket.ticket_id);
    if (announce) {
      this.announce(`${this.title(ticket)}: ${HEADLINES[ticket.status] || ticket.status}.`);
      ticket.card.root.scrollIntoView({ block: "nearest" });
    }
    if (ticket.status === "ready") this.loadResult(ticket);
  }

  /** Fields from a listing: only moves forward in the life cycle. */
  update(ticket, state) {
    const isNewer = (RANK[state.status] ?? 0) > (RANK[ticket.status] ?? 0);
    for (const key of ["name", "created_at", "expires_at", "file_count", "total_size", "status_url", "result_url"]) {
      if (state[key] !== undefined && state[key] !== null) ticket[key] = state[key];
    }
    if (state.status === ticket.status || isNewer) {
      if (state.progress && (!ticket.progress || state.progress.bytes_done >= ticket.progress.bytes_done)) {
        ticket.progress = state.progress;
      }
      if (state.position) ticket.position = state.position;
      if (state.error) ticket.error = state.error;
    }
    if (isNewer) this.setStatus(ticket, state.status);
    else this.refresh(ticket);
  }

  /** One event from the stream, for a ticket this panel holds. */
  apply(type, data) {
    const ticket = this.tickets.get(data.ticket_id);
    if (!ticket) return;
    if (type === "status") {
      if (data.error) ticket.error = data.error;
      if (data.reason) ticket.reason = data.reason;
      if (data.status === ticket.status) return this.refresh(ticket);
      if ((RANK[data.status] ?? 0) < (RANK[ticket.status] ?? 0)) return;
      this.setStatus(ticket, data.status);
    } else if (type === "progress") {
      if (FINAL.has(ticket.status)) return;
      ticket.progress = data;
      ticket.samples.push({ at: performance.now(), bytes: data.bytes_done });
      const horizon = performance.now() - SPEED_WINDOW_MS;
      while (ticket.samples.length > 2 && ticket.samples[0].at < horizon) ticket.samples.shift();
      if (ticket.status === "queued") this.setStatus(ticket, "preparing");
      else this.refresh(ticket);
    } else if (type === "position") {
      if (ticket.status !== "queued") return;
      ticket.position = { position: data.position, reason: data.reason };
      this.refresh(ticket);
    }
  }

  setStatus(ticket, status) {
    ticket.status = status;
    if (status !== "queued") ticket.position = null;
    this.refresh(ticket);
    this.announce(`${this.title(ticket)}: ${HEADLINES[status] || status}.`);
    if (status === "ready") this.loadResult(ticket);
  }

  async loadResult(ticket, attempt = 1) {
    if (ticket.result || ticket.loadingResult || !ticket.result_url) return;
    ticket.loadingResult = true;
    try {
      ticket.result = await get(onThisOrigin(ticket.result_url));
      this.refresh(ticket);
    } catch (error) {
      if (error.status === 410) {
        this.setStatus(ticket, "expired");
      } else if ((error.status === 0 || error.status >= 500) && attempt < RESULT_TRIES) {
        // The server may be restarting (the event stream reconnects meanwhile): ask again.
        setTimeout(() => this.loadResult(ticket, attempt + 1), RETRY_MS);
      } else {
        this.onError(error);
      }
    } finally {
      ticket.loadingResult = false;
    }
  }

  title(ticket) {
    return ticket.name || "Your archive";
  }

  renderCard(ticket) {
    const make = (tag, className, parent) => {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (parent) parent.append(node);
      return node;
    };
    const root = make("li", "ticket");
    const article = make("article", "", root);
    const heading = make("h3", "ticket-name", article);
    heading.id = `ticket-${ticket.ticket_id}`;
    article.setAttribute("aria-labelledby", heading.id);
    const meta = make("p", "ticket-meta", article);
    const headline = make("p", "ticket-status", article);
    const bar = make("progress", "", article);
    bar.max = 100;
    bar.setAttribute("aria-labelledby", heading.id);
    const figures = make("p", "ticket-figures", article);
    const parts = make("ul", "parts", article);
    const manifest = make("p", "manifest", article);
    const actions = make("p", "ticket-actions", article);
    const cancel = make("button", "", actions);
    cancel.type = "button";
    cancel.textContent = "Cancel";
    cancel.addEventListener("click", () => this.cancel(ticket));
    const release = make("button", "", actions);
    release.type = "button";
    release.textContent = "Done: delete the archive";
    release.addEventListener("click", () => this.release(ticket));
    const dismiss = make("button", "quiet", actions);
    dismiss.type = "button";
    dismiss.textContent = "Remove from the list";
    dismiss.addEventListener("click", () => this.dismiss(ticket));
    return { root, heading, meta, headline, bar, figures, parts, manifest, cancel, release, dismiss };
  }

  refresh(ticket) {
    const card = ticket.card;
    if (!card) return;
    const { status } = ticket;
    card.root.dataset.status = status;
    card.heading.textContent = this.title(ticket);
    card.cancel.setAttribute("aria-label", `Cancel ${this.title(ticket)}`);
    card.release.setAttribute("aria-label", `Delete the archive ${this.title(ticket)} from the server`);
    card.dismiss.setAttribute("aria-label", `Remove ${this.title(ticket)} from the list`);

    const meta = [];
    if (typeof ticket.file_count === "number") meta.push(plural(ticket.file_count, "file", "files"));
    if (typeof ticket.total_size === "number") meta.push(formatSize(ticket.total_size));
    if (ticket.created_at) meta.push(`requested ${formatDate(ticket.created_at)}`);
    card.meta.textContent = meta.join(" · ");

    card.headline.textContent = this.headline(ticket);
    card.bar.hidden = status !== "preparing";
    const progress = ticket.progress;
    if (status === "preparing") {
      if (progress && typeof progress.percent === "number") {
        card.bar.value = progress.percent;
      } else {
        card.bar.removeAttribute("value"); // an indeterminate bar until the first figures
      }
    }
    card.figures.textContent = status === "preparing" ? this.figures(ticket) : "";
    card.figures.hidden = !card.figures.textContent;

    this.renderResult(ticket);
    card.cancel.hidden = !(status === "queued" || status === "preparing");
    card.release.hidden = status !== "ready";
    card.dismiss.hidden = !FINAL.has(status) || status === "ready";
  }

  headline(ticket) {
    const { status } = ticket;
    if (status === "queued") {
      const position = ticket.position;
      if (position && position.position) {
        const place = position.position === 1 ? "Next in line" : `Number ${position.position} in line`;
        return `${place}: ${describeReason(position.reason)}.`;
      }
      return "Waiting in line: the archive is built as soon as its turn comes.";
    }
    if (status === "preparing") {
      const percent = ticket.progress?.percent;
      return typeof percent === "number"
        ? `Preparing the archive: ${Math.floor(percent)} % done.`
        : "Preparing the archive…";
    }
    if (status === "failed") {
      const reason = (ticket.error || "the server gave no reason").replace(/\.+$/, "");
      return `The archive could not be made: ${reason}.`;
    }
    if (status === "cancelled") return "Cancelled: nothing was kept.";
    if (status === "ready") {
      return ticket.expires_at ? `Ready to download until ${formatDate(ticket.expires_at)}.` : "Ready to download.";
    }
    return HEADLINES[status] || status;
  }

  figures(ticket) {
    const progress = ticket.progress;
    if (!progress) return "";
    const text = [];
    if (progress.files_total) text.push(`${progress.files_done ?? 0} of ${plural(progress.files_total, "file", "files")}`);
    if (progress.bytes_total) text.push(`${formatSize(progress.bytes_done ?? 0)} of ${formatSize(progress.bytes_total)}`);
    if (progress.parts_total > 1) text.push(`part ${progress.part} of ${progress.parts_total}`);
    const samples = ticket.samples;
    if (samples.length >= 2) {
      const first = samples[0];
      const last = samples[samples.length - 1];
      const seconds = (last.at - first.at) / 1000;
      if (seconds >= 0.5 && last.bytes > first.bytes) {
        const speed = (last.bytes - first.bytes) / seconds;
        text.push(formatSpeed(speed));
        const left = (progress.bytes_total - progress.bytes_done) / speed;
        if (left > 0) text.push(`about ${formatDuration(left)} left`);
      }
    }
    return text.join(" · ");
  }

  renderResult(ticket) {
    const card = ticket.card;
    const result = ticket.status === "ready" ? ticket.result : null;
    if (!result) {
      card.parts.replaceChildren();
      card.manifest.replaceChildren();
      card.parts.hidden = card.manifest.hidden = true;
      return;
    }
    if (card.parts.childElementCount) return; // links once; they do not change
    card.parts.hidden = false;
    const count = result.parts.length;
    result.parts.forEach((part, index) => {
      const item = document.createElement("li");
      item.className = "part";
      const link = document.createElement("a");
      link.className = "button primary";
      link.href = part.url;
      link.setAttribute("download", part.name);
      const label = count > 1 ? `Download part ${index + 1} of ${count}` : "Download";
      link.textContent = `${label}: ${part.name} (${formatSize(part.size)})`;
      const checksum = document.createElement("p");
      checksum.className = "checksum";
      if (part.sha256) {
        checksum.append("SHA-256: ");
        const code = document.createElement("code");
        code.textContent = part.sha256;
        checksum.append(code);
      } else {
        checksum.textContent = "A link to the file itself: no checksum was computed (the file was not read).";
      }
      item.append(link, checksum);
      if (part.oversized) {
        const note = document.createElement("p");
        note.className = "hint";
        note.textContent = "This part holds one file larger than the split size.";
        item.append(note);
      }
      card.parts.append(item);
    });
    if (result.manifest) {
      card.manifest.hidden = false;
      const link = document.createElement("a");
      link.href = result.manifest.url;
      link.setAttribute("download", result.manifest.name);
      link.textContent = `The manifest: every file with its size and checksum (${formatSize(result.manifest.size)})`;
      card.manifest.replaceChildren(link);
    }
  }

  async cancel(ticket) {
    await this.deleteTicket(ticket, ticket.card.cancel);
  }

  async release(ticket) {
    if (await this.deleteTicket(ticket, ticket.card.release)) this.dismiss(ticket);
  }

  async deleteTicket(ticket, button) {
    button.disabled = true;
    try {
      const state = await del(`/ticket/${encodeURIComponent(ticket.ticket_id)}`);
      if (state && state.status) this.apply("status", { ticket_id: ticket.ticket_id, status: state.status });
      return true;
    } catch (error) {
      if (error.status === 409 || error.status === 410) {
        // It ended meanwhile: the stream brings (or brought) its final state.
        return true;
      }
      this.onError(error);
      return false;
    } finally {
      button.disabled = false;
    }
  }

  dismiss(ticket) {
    const root = ticket.card.root;
    const next = root.nextElementSibling || root.previousElementSibling;
    this.dismissed.add(ticket.ticket_id);
    sessionStorage.setItem(DISMISSED, JSON.stringify([...this.dismissed].slice(-500)));
    this.tickets.delete(ticket.ticket_id);
    ticket.card.root.remove();
    this.el.empty.hidden = this.tickets.size > 0;
    this.announce(`${this.title(ticket)} was removed from the list.`);
    // Keep the keyboard in the panel rather than dropping it at the top of the page.
    (next?.querySelector("button:not([hidden]), a") || this.el.heading)?.focus();
  }
}
