"""Typed calls of the access scripts: API keys, rate limits, the login slow-down."""

from __future__ import annotations

from typing import Any

from filegate.state import keys
from filegate.state.scripts import Call


def _read_app(reply: Any) -> tuple[str, dict[str, str]] | None:
    if not reply:
        return None
    app_id, flat = str(reply[0]), reply[1:]
    return app_id, {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


def app_for_key(key_digest: str) -> Call[tuple[str, dict[str, str]] | None]:
    """(app id, the app's fields) of an API key's digest, or None."""
    return Call("app_for_key", (keys.api_key(key_digest),), (), _read_app)


def rate(name: str, caller: str, now_ms: int, interval_ms: int, burst: int) -> Call[int]:
    """0 when the request is allowed, else the milliseconds until one would be."""
    return Call("rate", (keys.rate(name, caller),), (now_ms, interval_ms, burst), int)


def login_failure(kind: str, who: str, free: int, max_delay_s: int, window_s: int) -> Call[int]:
    """Count a failed login of a name or address (``kind`` 'user' or 'addr'); returns the count."""
    own = (keys.login_failures(kind, who), keys.login_wait(kind, who))
    return Call("login_failure", own, (free, max_delay_s, window_s), int)
