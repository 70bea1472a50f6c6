// One ticket's card in the downloads panel: its elements, and drawing a ticket's state into them.

import { describeReason, formatDate, formatDuration, formatSize, formatSpeed, plural } from "./format.js";

export const FINAL = new Set(["ready", "failed", "cancelled", "expired"]);

export const HEADLINES = {
  queued: "Waiting in line",
  preparing: "Preparing the archive",
  ready: "Ready to download",
  failed: "The archive could not be made",
  cancelled: "Cancelled",
  expired: "Expired: the links no longer work",
};

export class TicketCard {
  constructor(ticketId, { onCancel, onRelease, onDismiss }) {
    const make = (tag, className, parent) => {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (parent) parent.append(node);
      return node;
    };
    const root = make("li", "ticket");
    const article = make("article", "", root);
    const heading = make("h3", "ticket-name", article);
    heading.id = `ticket-${ticketId}`;
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
    cancel.addEventListener("click", onCancel);
    const release = make("button", "", actions);
    release.type = "button";
    release.textContent = "Done: delete the archive";
    release.addEventListener("click", onRelease);
    const dismiss = make("button", "quiet", actions);
    dismiss.type = "button";
    dismiss.textContent = "Remove from the list";
    dismiss.addEventListener("click", onDismiss);
    Object.assign(this, { root, heading, meta, headline, bar, figures, parts, manifest });
    Object.assign(this, { cancel, release, dismiss });
  }

  /** Draws ``ticket`` (its state as the panel holds it) under the name ``title``. */
  draw(ticket, title) {
    const { status } = ticket;
    this.root.dataset.status = status;
    this.heading.textContent = title;
    this.cancel.setAttribute("aria-label", `Cancel ${title}`);
    this.release.setAttribute("aria-label", `Delete the archive ${title} from the server`);
    this.dismiss.setAttribute("aria-label", `Remove ${title} from the list`);

    const meta = [];
    if (typeof ticket.file_count === "number") meta.push(plural(ticket.file_count, "file", "files"));
    if (typeof ticket.total_size === "number") meta.push(formatSize(ticket.total_size));
    if (ticket.created_at) meta.push(`requested ${formatDate(ticket.created_at)}`);
    this.meta.textContent = meta.join(" · ");

    this.headline.textContent = headline(ticket);
    this.bar.hidden = status !== "preparing";
    const progress = ticket.progress;
    if (status === "preparing") {
      if (progress && typeof progress.percent === "number") {
        this.bar.value = progress.percent;
      } else {
        this.bar.removeAttribute("value"); // an indeterminate bar until the first figures
      }
    }
    this.figures.textContent = status === "preparing" ? figures(ticket) : "";
    this.figures.hidden = !this.figures.textContent;

    this.drawResult(ticket);
    this.cancel.hidden = !(status === "queued" || status === "preparing");
    this.release.hidden = status !== "ready";
    this.dismiss.hidden = !FINAL.has(status) || status === "ready";
  }

  /**
   * The part buttons and the manifest link, once the result is known; while the archive is
   * still built, the parts committed so far, and the others as waiting. Drawn again only when
   * a part was added.
   */
  drawResult(ticket) {
    const live = ticket.status === "ready" || (ticket.status === "preparing" && ticket.result?.partial);
    const result = live ? ticket.result : null;
    if (!result) {
      this.parts.replaceChildren();
      this.manifest.replaceChildren();
      this.parts.hidden = this.manifest.hidden = true;
      this.drawn = null;
      return;
    }
    const drawn = `${result.parts.length}:${Boolean(result.partial)}`;
    if (this.drawn === drawn) return; // links do not change
    this.drawn = drawn;
    this.parts.hidden = false;
    const count = result.parts_total ?? result.parts.length;
    const items = result.parts.map((part, index) => partItem(part, part.part ?? index + 1, count));
    for (const waiting of result.pending ?? []) {
      const item = document.createElement("li");
      item.className = "part pending";
      item.textContent = `Part ${waiting.part} of ${count}: ${waiting.name} is being built.`;
      items.push(item);
    }
    this.parts.replaceChildren(...items);
    if (result.manifest) {
      this.manifest.hidden = false;
      const link = document.createElement("a");
      link.href = result.manifest.url;
      link.setAttribute("download", result.manifest.name);
      link.textContent = `The manifest: every file with its size and checksum (${formatSize(result.manifest.size)})`;
      this.manifest.replaceChildren(link);
    } else {
      this.manifest.replaceChildren();
      this.manifest.hidden = true;
    }
  }
}

/** One part's download button, with its checksum. */
function partItem(part, number, count) {
  const item = document.createElement("li");
  item.className = "part";
  const link = document.createElement("a");
  link.className = "button primary";
  link.href = part.url;
  link.setAttribute("download", part.name);
  const label = count > 1 ? `Download part ${number} of ${count}` : "Download";
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
  return item;
}

/** The state in a sentence: the place in line and why, the percent, the reason it failed. */
function headline(ticket) {
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

/** Files and bytes done of their totals, the part, and a speed and time left from recent events. */
function figures(ticket) {
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

