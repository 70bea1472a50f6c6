"""Typed calls of the access scripts: API keys, rate limits, the login slow-down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filegate.state import keys
from filegate.state.scripts import Call


@dataclass(frozen=True, slots=True)
class RateCount:
    """One request to count against a rate limit: ``count`` requests per ``seconds``."""

    name: str
    count: int
    seconds: int

    @property
    def interval_ms(self) -> int:
        return max(1, self.seconds * 1000 // self.count)

    def args(self, now_ms: int) -> tuple[int, int, int]:
        return now_ms, self.interval_ms, self.count


@dataclass(frozen=True, slots=True)
class KeyedApp:
    app_id: str
    fields: dict[str, str]
    wait_ms: int
    """0 when the request was allowed by the rate limit asked for (or none was), else the
    milliseconds until one would be."""


def _read_app(reply: Any) -> KeyedApp | None:
    if not reply:
        return None
    wait_ms, app_id, flat = int(reply[0]), str(reply[1]), reply[2:]
    return KeyedApp(app_id, {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}, wait_ms)


def app_for_key(key_digest: str, count: RateCount | None = None, now_ms: int = 0) -> Call[KeyedApp | None]:
    """The app of an API key's digest, or None; with ``count``, the request counted against the
    app's limit in the same round trip."""
    args: tuple[str | int, ...] = ()
    if count is not None:
        args = (keys.rate(count.name, "app:"), *count.args(now_ms))
    return Call("app_for_key", (keys.api_key(key_digest),), args, _read_app)


def rate(name: str, caller: str, now_ms: int, interval_ms: int, burst: int) -> Call[int]:
    """0 when the request is allowed, else the milliseconds until one would be."""
    return Call("rate", (keys.rate(name, caller),), (now_ms, interval_ms, burst), int)


def login_failure(kind: str, who: str, free: int, max_delay_s: int, window_s: int) -> Call[int]:
    """Count a failed login of a name or address (``kind`` 'user' or 'addr'); returns the count."""
    own = (keys.login_failures(kind, who), keys.login_wait(kind, who))
    return Call("login_failure", own, (free, max_delay_s, window_s), int)
