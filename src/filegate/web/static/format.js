// Sizes, dates, durations and reasons as a person reads them.

const UNITS = ["bytes", "kB", "MB", "GB", "TB", "PB"];

/** 1234567 → "1.2 MB" (powers of 1000, as the server counts). */
export function formatSize(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(bytes)) return "size unknown";
  if (bytes === 1) return "1 byte";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : DATE.format(date);
}

/** Seconds → "45 s", "3 min", "1 h 20 min". */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

export function formatSpeed(bytesPerSecond) {
  return `${formatSize(bytesPerSecond)}/s`;
}

export function plural(count, one, many) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

const REASONS = {
  waiting_for_slot: "waiting for a free build slot",
  waiting_for_space: "waiting for disk space",
};

export function describeReason(reason) {
  return REASONS[reason] || "waiting for its turn";
}

const KINDS = { user: "user", app: "app key", anonymous: "no sign-in needed" };

export function describeKind(kind) {
  return KINDS[kind] || kind;
}
