// Who is signed in: a cookie session (user and password) or an app key kept in this tab.

import { get, post, setBearer, setCsrf } from "./api.js";

// sessionStorage: the key lives as long as the tab, never written to disk for other tabs.
const KEY_STORAGE = "filegate.bearer";

let mode = null; // "cookie" | "key" | "anonymous"

/** Who the server says we are, or null when nobody is signed in. */
export async function restore() {
  const stored = sessionStorage.getItem(KEY_STORAGE);
  if (stored) setBearer(stored);
  try {
    const me = await get("/auth/me", { quiet401: true });
    remember(me, stored ? "key" : "cookie");
    return me;
  } catch (error) {
    if (error.status !== 401) throw error;
    forget();
    return null;
  }
}

export async function signInWithPassword(username, password) {
  forget();
  const answer = await post("/auth/login", { username, password, session: "cookie" }, { quiet401: true });
  if (answer && answer.csrf_token) setCsrf(answer.csrf_token);
  if (answer && answer.access_token) {
    // A server without cookie sessions answers a bearer token: keep it for this tab like a key.
    sessionStorage.setItem(KEY_STORAGE, answer.access_token);
    setBearer(answer.access_token);
  }
  const me = await get("/auth/me", { quiet401: true });
  remember(me, answer && answer.access_token ? "key" : "cookie");
  return me;
}

export async function signInWithKey(key) {
  forget();
  setBearer(key);
  try {
    const me = await get("/auth/me", { quiet401: true });
    sessionStorage.setItem(KEY_STORAGE, key);
    remember(me, "key");
    return me;
  } catch (error) {
    forget();
    throw error;
  }
}

/** Ends a cookie session on the server; an app key is only forgotten (it stays valid). */
export async function signOut() {
  const stored = sessionStorage.getItem(KEY_STORAGE);
  const isSession = mode === "cookie" || (stored !== null && !stored.startsWith("fgk_"));
  try {
    if (isSession) await post("/auth/logout", undefined, { quiet401: true });
  } finally {
    forget();
  }
}

/** Forget the credentials on the page (after the server said they no longer work). */
export function forget() {
  sessionStorage.removeItem(KEY_STORAGE);
  setBearer(null);
  setCsrf(null);
  mode = null;
}

function remember(me, how) {
  mode = me.kind === "anonymous" ? "anonymous" : how;
  if (me.csrf_token) setCsrf(me.csrf_token);
}

export function isAnonymous() {
  return mode === "anonymous";
}
