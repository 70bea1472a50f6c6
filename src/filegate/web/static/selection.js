// The files and folders ticked so far, across folders; kept for the tab's life.

import { formatSize, plural } from "./format.js";

const STORAGE = "filegate.selection";

export class Selection extends EventTarget {
  constructor() {
    super();
    this.items = new Map();
    try {
      for (const item of JSON.parse(sessionStorage.getItem(STORAGE) || "[]")) this.items.set(item.path, item);
    } catch {
      this.items.clear();
    }
  }

  /** A folder's path ends with "/": that is how the server tells it from a file. */
  static pathOf(entry) {
    const path = entry.path.replace(/\/+$/, "");
    return entry.type === "folder" ? `${path}/` : path;
  }

  has(entry) {
    return this.items.has(Selection.pathOf(entry));
  }

  /** The selected folder that already brings ``path`` along, or null. */
  coveringFolder(path) {
    for (const selected of this.items.keys()) {
      if (selected.endsWith("/") && selected !== path && path.startsWith(selected)) return selected;
    }
    return null;
  }

  set(entry, isSelected) {
    const path = Selection.pathOf(entry);
    if (isSelected) {
      // A folder brings its whole subtree: what was ticked inside it is part of it now.
      if (entry.type === "folder") {
        for (const selected of [...this.items.keys()]) if (selected.startsWith(path)) this.items.delete(selected);
      }
      this.items.set(path, { path, name: entry.name, type: entry.type, size: entry.size ?? null });
    } else {
      this.items.delete(path);
    }
    this.changed();
  }

  remove(path) {
    this.items.delete(path);
    this.changed();
  }

  clear() {
    this.items.clear();
    this.changed();
  }

  paths() {
    return [...this.items.keys()];
  }

  get size() {
    return this.items.size;
  }

  /** "3 items: 1.2 MB in 2 files, and 1 folder whose size is known once the archive is built". */
  summary() {
    const items = [...this.items.values()];
    if (items.length === 0) return "Nothing selected yet. Tick files and folders to add them.";
    const files = items.filter((item) => item.type !== "folder");
    const folders = items.length - files.length;
    const bytes = files.reduce((total, item) => total + (item.size || 0), 0);
    const parts = [];
    if (files.length) parts.push(`${formatSize(bytes)} in ${plural(files.length, "file", "files")}`);
    if (folders) {
      parts.push(`${plural(folders, "folder", "folders")} of unknown size (counted when the archive is built)`);
    }
    return `${plural(items.length, "item", "items")} selected: ${parts.join(", and ")}.`;
  }

  changed() {
    sessionStorage.setItem(STORAGE, JSON.stringify([...this.items.values()]));
    this.dispatchEvent(new Event("change"));
  }
}
