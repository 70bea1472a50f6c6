// The archive options a person may set: only what the licence and the caller allow.

const PRIORITIES = ["high", "normal", "low"];
const PRIORITY_WORDS = { high: "high: before other waiting builds", normal: "normal", low: "low: after the others" };

export class Options {
  constructor(elements) {
    this.el = elements; // { name, split, splitRow, expiry, compression, priority, priorityRow }
    this.allowsSplit = false;
    this.allowsPriority = false;
  }

  /** ``features`` from GET /licence; ``maxPriority`` from GET /auth/me. */
  configure(features, maxPriority) {
    this.allowsSplit = features.includes("split");
    this.el.splitRow.hidden = !this.allowsSplit;
    const highest = PRIORITIES.indexOf(maxPriority);
    const allowed = PRIORITIES.slice(highest < 0 ? 1 : highest);
    this.allowsPriority = features.includes("priorities") && allowed.length > 1;
    this.el.priorityRow.hidden = !this.allowsPriority;
    this.el.priority.replaceChildren(
      ...allowed.map((level) => {
        const option = document.createElement("option");
        option.value = level;
        option.textContent = PRIORITY_WORDS[level];
        option.selected = level === "normal" || (level === allowed[0] && !allowed.includes("normal"));
        return option;
      }),
    );
  }

  /** The option fields of POST /download's body. */
  read() {
    const body = { compression: this.el.compression.value, archive: "auto" };
    const name = this.el.name.value.trim();
    if (name) body.name = name;
    const split = this.el.split.value.trim();
    if (this.allowsSplit && split) body.split_size = split;
    if (this.el.expiry.value) body.expires_in = this.el.expiry.value;
    // Hidden or not, the list holds only levels the caller may ask, with its default chosen.
    body.priority = this.el.priority.value || "normal";
    return body;
  }
}
