// Calls to filegate's API: credentials on every call, errors carrying the server's words.

const credentials = { bearer: null, csrf: null };

/** The Authorization bearer sent with every call (an app key), or null for none. */
export function setBearer(token) {
  credentials.bearer = token || null;
}

/** The cookie session's CSRF token, sent with every state-changing call. */
export function setCsrf(token) {
  credentials.csrf = token || null;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body.detail || describeStatus(status));
    this.name = "ApiError";
    this.status = status;
    this.error = body.error || "";
    this.paths = Array.isArray(body.paths) ? body.paths : [];
    this.field = body.field || null;
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
}

function describeStatus(status) {
  if (status === 0) return "The server cannot be reached. Check the connection and try again.";
  if (status >= 500) return "The server could not answer just now. Try again in a moment.";
  return `The server refused the request (HTTP ${status}).`;
}

let unauthorizedHandler = () => {};

/** Called when a call made with credentials answers 401: the session has ended. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export async function request(method, url, { body, quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (credentials.bearer) headers.Authorization = `Bearer ${credentials.bearer}`;
  if (method !== "GET" && credentials.csrf) headers["X-Filegate-CSRF"] = credentials.csrf;
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, {});
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data || {}, response.headers.get("Retry-After"));
    if (response.status === 401 && !quiet401) unauthorizedHandler(error);
    throw error;
  }
  return data;
}

/**
 * A URL the API handed out (events_url, result_url), on this page's own origin.
 *
 * The API builds them from FILEGATE_PUBLIC_URL, which may name another host for the same server
 * (127.0.0.1 against localhost, an inner address behind a proxy); the page's Content-Security-Policy
 * lets it connect to its own origin only, and the signature sits in the query, not the host.
 */
export function onThisOrigin(url) {
  const parsed = new URL(url, window.location.href);
  return `${window.location.origin}${parsed.pathname}${parsed.search}`;
}

export const get = (url, options) => request("GET", url, options);
export const post = (url, body, options) => request("POST", url, { ...options, body });
export const del = (url, options) => request("DELETE", url, options);
