// One folder at a time: breadcrumbs, entries with checkboxes, "Load more" by cursor.

import { get } from "./api.js";
import { formatDate, formatSize, plural } from "./format.js";
import { Selection } from "./selection.js";

const PAGE_SIZE = 100;

export class Browser {
  constructor(elements, selection, onError) {
    this.el = elements; // { crumbs, entries, more, status, heading }
    this.selection = selection;
    this.onError = onError;
    this.path = "";
    this.cursor = null;
    this.shown = 0;
    this.rowCount = 0;
    this.el.more.addEventListener("click", () => this.loadMore());
    window.addEventListener("popstate", () => this.open(Browser.pathInAddress(), { remember: false }));
    selection.addEventListener("change", () => this.syncChecks());
  }

  /** The folder named in the address (#/photos/2023), so a reload or a shared link opens it. */
  static pathInAddress() {
    const hash = window.location.hash.replace(/^#\/?/, "");
    try {
      return decodeURIComponent(hash);
    } catch {
      return "";
    }
  }

  /**
   * Show a folder ("" is the top); focus moves to the listing when a person asked for it, and
   * the address follows (so Back returns to the folder before).
   */
  async open(path, { focus = false, remember = focus } = {}) {
    const target = path.replace(/^\/+|\/+$/g, "");
    this.el.status.textContent = "Loading…";
    let page;
    try {
      page = await this.fetchPage(target, null);
    } catch (error) {
      this.el.status.textContent = "";
      this.onError(error);
      // A folder named in the address that is gone (or not yours): show the top instead.
      if (target && !focus) await this.open("", { remember: true });
      return;
    }
    this.path = page.path ?? target;
    if (remember) {
      const address = `#/${this.path.split("/").map(encodeURIComponent).join("/")}`;
      if (window.location.hash !== address) window.history.pushState({ path: this.path }, "", address);
    }
    this.el.entries.replaceChildren();
    this.shown = 0;
    this.renderCrumbs();
    this.append(page);
    if (focus) this.el.heading.focus();
  }

  async loadMore() {
    if (!this.cursor) return;
    this.el.more.disabled = true;
    try {
      const page = await this.fetchPage(this.path, this.cursor);
      const firstNew = this.el.entries.children.length;
      this.append(page);
      // Keep the keyboard where the new entries start, not on a button that may vanish.
      this.el.entries.children[firstNew]?.querySelector("input")?.focus();
    } catch (error) {
      this.onError(error);
    } finally {
      this.el.more.disabled = false;
    }
  }

  fetchPage(path, cursor) {
    const query = new URLSearchParams({ path, limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", cursor);
    return get(`/browse?${query}`);
  }

  append(page) {
    for (const entry of page.entries) this.el.entries.append(this.renderEntry(entry));
    this.shown += page.entries.length;
    this.cursor = page.next_cursor || null;
    this.el.more.hidden = !this.cursor;
    const where = this.path ? `“${this.path.split("/").pop()}”` : "The top folder";
    this.el.status.textContent =
      this.shown === 0
        ? `${where} is empty.`
        : `${where}: ${plural(this.shown, "item", "items")} shown${this.cursor ? ", more to load" : ""}.`;
  }

  renderCrumbs() {
    const crumbs = [{ name: "All files", path: "" }];
    let walked = "";
    for (const part of this.path.split("/").filter(Boolean)) {
      walked = walked ? `${walked}/${part}` : part;
      crumbs.push({ name: part, path: walked });
    }
    this.el.crumbs.replaceChildren(
      ...crumbs.map((crumb, index) => {
        const item = document.createElement("li");
        if (index === crumbs.length - 1) {
          const here = document.createElement("span");
          here.setAttribute("aria-current", "location");
          here.textContent = crumb.name;
          item.append(here);
        } else {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "link";
          button.textContent = crumb.name;
          button.addEventListener("click", () => this.open(crumb.path, { focus: true }));
          item.append(button);
        }
        return item;
      }),
    );
  }

  renderEntry(entry) {
    const isFolder = entry.type === "folder";
    const id = `entry-${(this.rowCount += 1)}`;
    const row = document.createElement("li");
    row.className = `entry ${isFolder ? "folder" : "file"}`;
    row.dataset.path = Selection.pathOf(entry);

    const check = document.createElement("input");
    check.type = "checkbox";
    check.id = id;
    check.addEventListener("change", () => this.selection.set(entry, check.checked));

    const icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");

    let name;
    if (isFolder) {
      check.setAttribute("aria-label", `Select the folder ${entry.name}`);
      name = document.createElement("button");
      name.type = "button";
      name.className = "link name";
      name.textContent = entry.name;
      name.setAttribute("aria-label", `Open the folder ${entry.name}`);
      name.addEventListener("click", () => this.open(entry.path, { focus: true }));
    } else {
      name = document.createElement("label");
      name.htmlFor = id;
      name.className = "name";
      name.textContent = entry.name;
    }

    const meta = document.createElement("span");
    meta.className = "meta";
    const size = isFolder ? "folder" : formatSize(entry.size);
    const modified = formatDate(entry.modified);
    meta.textContent = modified ? `${size} · ${modified}` : size;

    const covered = document.createElement("span");
    covered.className = "covered";
    covered.id = `${id}-note`;
    check.setAttribute("aria-describedby", covered.id);

    row.append(check, icon, name, meta, covered);
    this.syncCheck(row);
    return row;
  }

  /** Ticked when selected; ticked and locked when a selected folder above brings it along. */
  syncCheck(row) {
    const check = row.querySelector("input[type=checkbox]");
    const covering = this.selection.coveringFolder(row.dataset.path);
    check.checked = covering !== null || this.selection.items.has(row.dataset.path);
    check.disabled = covering !== null;
    row.querySelector(".covered").textContent = covering ? `Included with the selected folder ${covering}` : "";
  }

  /** Ticks follow the selection when it changes elsewhere (the tray's remove buttons). */
  syncChecks() {
    for (const row of this.el.entries.children) this.syncCheck(row);
  }
}
