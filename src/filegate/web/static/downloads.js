// The downloads panel: the tickets' states, kept in step with the page's one event stream.

import { del, get, onThisOrigin } from "./api.js";
import { FINAL, HEADLINES, TicketCard } from "./card.js";

// A later state never gives way to an earlier one (a list fetched before an event arrived).
const RANK = { queued: 0, preparing: 1, ready: 2, failed: 2, cancelled: 2, expired: 3 };
const DISMISSED = "filegate.dismissed";
const SPEED_WINDOW_MS = 8000;
const RESULT_TRIES = 15;
const HELD_TICKETS = 50;
const HELD_EVENTS = 20;
const RETRY_MS = 2000;


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
    ticket.card = new TicketCard(ticket.ticket_id, {
      onCancel: () => this.cancel(ticket),
      onRelease: () => this.release(ticket),
      onDismiss: () => this.dismiss(ticket),
    });
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
    } else if (type === "part_ready") {
      if (FINAL.has(ticket.status)) return;
      // A committed part can be downloaded while the others are built: its link is in the result.
      if (ticket.status === "queued") this.setStatus(ticket, "preparing");
      this.loadResult(ticket);
    }
  }

  setStatus(ticket, status) {
    ticket.status = status;
    if (status !== "queued") ticket.position = null;
    this.refresh(ticket);
    this.announce(`${this.title(ticket)}: ${HEADLINES[status] || status}.`);
    if (status === "ready") this.loadResult(ticket);
  }

  /** The ticket's parts and links: while it is preparing, those committed so far (partial). */
  async loadResult(ticket, attempt = 1) {
    if ((ticket.result && !ticket.result.partial) || !ticket.result_url) return;
    if (ticket.loadingResult) {
      ticket.resultStale = true; // a part came while asking: ask again once this answer is in
      return;
    }
    ticket.loadingResult = true;
    ticket.resultStale = false;
    try {
      const result = await get(onThisOrigin(ticket.result_url));
      const known = ticket.result ? ticket.result.parts.length : 0;
      if (!(result.partial && result.parts.length <= known)) {
        ticket.result = result;
        const newest = result.parts[result.parts.length - 1];
        if (result.partial && newest) {
          this.announce(`${this.title(ticket)}: part ${newest.part} of ${result.parts_total} can be downloaded.`);
        }
      }
      this.refresh(ticket);
    } catch (error) {
      if (error.status === 409 && ticket.status !== "ready") return; // it ended meanwhile: the stream says how
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
    if (ticket.resultStale || (ticket.status === "ready" && ticket.result?.partial)) this.loadResult(ticket);
  }

  title(ticket) {
    return ticket.name || "Your archive";
  }

  refresh(ticket) {
    if (ticket.card) ticket.card.draw(ticket, this.title(ticket));
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
