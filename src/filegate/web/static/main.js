// Wires the page together: sign-in, browsing, the selection, downloads and the event stream.

import { ApiError, get, onUnauthorized, post } from "./api.js";
import { Browser } from "./browse.js";
import { Downloads } from "./downloads.js";
import { EventFeed } from "./events.js";
import { describeKind } from "./format.js";
import { Options } from "./options.js";
import { Selection } from "./selection.js";
import * as session from "./session.js";

const $ = (id) => document.getElementById(id);
const RETRY_MS = 2000;

const selection = new Selection();
const options = new Options({
  name: $("opt-name"),
  split: $("opt-split"),
  splitRow: $("opt-split-row"),
  expiry: $("opt-expiry"),
  compression: $("opt-compression"),
  priority: $("opt-priority"),
  priorityRow: $("opt-priority-row"),
});
const browser = new Browser(
  { crumbs: $("crumbs"), entries: $("entries"), more: $("more"), status: $("browse-status"), heading: $("browse-title") },
  selection,
  showError,
);
const downloads = new Downloads(
  { list: $("tickets"), empty: $("downloads-empty"), heading: $("downloads-title") },
  { onError: showError, announce },
);
const feed = new EventFeed({
  onEvent(type, data) {
    if (downloads.has(data.ticket_id)) {
      downloads.apply(type, data);
    } else {
      // Ours before POST /download has answered, or made elsewhere (another tab): learn it.
      downloads.hold(type, data);
      scheduleTicketsRefresh();
    }
  },
  onResync: () => refreshTickets(),
  onConnection(state) {
    $("connection").hidden = state === "open";
  },
  onClosed() {
    $("connection").hidden = false;
    retryTickets(true);
  },
});

// Messages

function showError(error) {
  const notice = $("notice");
  let text = error instanceof ApiError ? error.message : "Something went wrong on this page. Reload it and try again.";
  if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
    text += ` Try again in ${Math.ceil(error.retryAfter)} seconds.`;
  }
  $("notice-text").textContent = text;
  const paths = error instanceof ApiError ? error.paths : [];
  $("notice-paths").replaceChildren(
    ...paths.map((path) => {
      const item = document.createElement("li");
      item.textContent = path;
      return item;
    }),
  );
  notice.hidden = false;
  if (!(error instanceof ApiError)) console.warn(error);
}

function clearError() {
  $("notice").hidden = true;
}

function announce(text) {
  // Replacing the text makes screen readers say it, even when it repeats.
  const announcer = $("announcer");
  announcer.textContent = "";
  requestAnimationFrame(() => {
    announcer.textContent = text;
  });
}

// Signing in and out

function showLogin(message) {
  feed.close();
  stopTicketRefreshes();
  downloads.clear();
  $("workspace").hidden = true;
  $("who").hidden = true;
  $("loading").hidden = true;
  $("connection").hidden = true;
  $("login").hidden = false;
  if (message) showError(new ApiError(401, { detail: message }));
  $("username").focus();
}

async function enter(me) {
  $("login").hidden = true;
  $("loading").hidden = true;
  $("workspace").hidden = false;
  const isAnonymous = me.kind === "anonymous";
  $("who").hidden = false;
  $("logout").hidden = isAnonymous;
  $("who-text").textContent = isAnonymous
    ? "Open to everyone: this server asks no one to sign in"
    : `Signed in as ${me.name || me.id} (${describeKind(me.kind)})`;
  try {
    const licence = await get("/licence", { quiet401: true });
    options.configure(licence.limits?.features || [], me.max_priority || "normal");
  } catch (error) {
    // Without the licence's word the page offers only what every licence allows.
    options.configure([], me.max_priority || "normal");
    if (error.status !== 401) showError(error);
  }
  await Promise.all([browser.open(Browser.pathInAddress()), refreshTickets({ reopen: true })]);
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.submitter;
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) return showError(new ApiError(422, { detail: "Enter your user name and password." }));
  if (button) button.disabled = true;
  try {
    const me = await session.signInWithPassword(username, password);
    clearError();
    $("password").value = "";
    await enter(me);
  } catch (error) {
    if (error.status === 401) error.message = "The user name or password is not right.";
    showError(error);
  } finally {
    if (button) button.disabled = false;
  }
});

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return showError(new ApiError(422, { detail: "Paste the app key first." }));
  try {
    const me = await session.signInWithKey(key);
    clearError();
    $("api-key").value = "";
    await enter(me);
  } catch (error) {
    if (error.status === 401) error.message = "This app key is not valid (it may have been replaced or revoked).";
    showError(error);
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await session.signOut();
  } catch (error) {
    if (error.status !== 401) showError(error);
  }
  selection.clear();
  showLogin();
  announce("You are signed out.");
});

onUnauthorized(() => {
  session.forget();
  showLogin("Your session has ended. Sign in again.");
});

$("notice-close").addEventListener("click", clearError);

// Tickets

let refreshTimer = null;
let retryTimer = null;
let retryReopens = false;

/** One pending retry of the ticket list at a time; it reopens the stream when any asker needed that. */
function retryTickets(reopen) {
  retryReopens = retryReopens || reopen;
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    const needsReopen = retryReopens;
    retryTimer = null;
    retryReopens = false;
    refreshTickets({ reopen: needsReopen });
  }, RETRY_MS);
}

/** Signed out: a listing asked for now would go out without credentials (a 401). */
function stopTicketRefreshes() {
  clearTimeout(refreshTimer);
  clearTimeout(retryTimer);
  refreshTimer = retryTimer = null;
  retryReopens = false;
}

function scheduleTicketsRefresh() {
  // Several unknown events in a row (a new ticket's first few) need one listing only.
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshTickets();
  }, 250);
}

async function refreshTickets({ reopen = false } = {}) {
  let listing;
  try {
    listing = await get("/tickets");
  } catch (error) {
    if (error.status === 401) return;
    // Unreachable: the "Reconnecting…" note says so already, and the page tries again.
    if (error.status !== 0) showError(error);
    retryTickets(reopen || !feed.isOpen);
    return;
  }
  downloads.merge(listing.tickets || []);
  if ((reopen || !feed.isOpen) && listing.events_url) feed.open(listing.events_url, listing.events_cursor);
}

// The selection and the download

function renderTray() {
  $("tray-summary").textContent = selection.summary();
  $("download").disabled = selection.size === 0;
  $("clear").hidden = selection.size === 0;
  $("tray-items").replaceChildren(
    ...[...selection.items.values()].map((item) => {
      const row = document.createElement("li");
      const name = document.createElement("span");
      name.className = `tray-path ${item.type}`;
      name.textContent = item.path;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "quiet small";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove ${item.path} from the selection`);
      remove.addEventListener("click", () => {
        const next = row.nextElementSibling || row.previousElementSibling;
        selection.remove(item.path);
        (next?.querySelector("button") || $("tray-title")).focus();
      });
      row.append(name, remove);
      return row;
    }),
  );
}

selection.addEventListener("change", renderTray);
$("tray-title").tabIndex = -1;
$("clear").addEventListener("click", () => {
  selection.clear();
  $("tray-title").focus();
});

$("download-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (selection.size === 0) return;
  const button = $("download");
  button.disabled = true;
  const body = { paths: selection.paths(), ...options.read() };
  try {
    const created = await post("/download", body);
    clearError();
    downloads.add(created, { announce: true });
    selection.clear();
    // Folded away so the new download shows; the name was for this archive only.
    $("opt-name").value = "";
    $("options").open = false;
    scheduleTicketsRefresh();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = selection.size === 0;
  }
});

// Start

async function start() {
  renderTray();
  let me;
  try {
    me = await session.restore();
  } catch (error) {
    $("loading").hidden = true;
    showError(error);
    return;
  }
  if (me) await enter(me);
  else showLogin();
}

start();
