"""Every Redis key filegate uses, built in one place for Python and for the Lua scripts.

A key a caller can name before a script runs reaches the script through KEYS:
the shared scheduler keys always come first, in ``SHARED`` order, and each
script's own follow. A key a script only finds while it runs (the tickets of
a build, the feed of a ticket's owner) is built by the Lua functions
``lua_key_functions`` writes from the same templates. One Redis, not a
cluster: Redis Cluster is out of scope (see docs/operations.md).
"""

from __future__ import annotations

PREFIX = "filegate:"

# Keys of one thing, by template ("{}" is its id); the Lua scripts get a K.<name>(id) for each.
_TEMPLATES: dict[str, str] = {
    "ticket": "ticket:{}",
    "ticket_events": "ticket:{}:events",
    "build": "build:{}",
    "build_manifest": "build:{}:manifest",
    "build_tickets": "build:{}:tickets",
    "build_parts": "build:{}:parts",
    "fingerprint": "fingerprint:{}",
    "lease": "lease:{}",
    "owner_feed": "owner:{}:events",
    "owner_tickets": "owner:{}:tickets",
    "app": "app:{}",
}


def _key(name: str, ident: str) -> str:
    return PREFIX + _TEMPLATES[name].format(ident)


def ticket(ticket_id: str) -> str:
    return _key("ticket", ticket_id)


def ticket_events(ticket_id: str) -> str:
    """The ticket's event stream (SSE replays it)."""
    return _key("ticket_events", ticket_id)


def build(build_id: str) -> str:
    return _key("build", build_id)


def build_manifest(build_id: str) -> str:
    return _key("build_manifest", build_id)


def build_tickets(build_id: str) -> str:
    """The set of tickets holding the build."""
    return _key("build_tickets", build_id)


def fingerprint(value: str) -> str:
    """The build of one manifest and set of options, while it is queued, building or ready."""
    return _key("fingerprint", value)


def build_parts(build_id: str) -> str:
    """The parts a running build has committed so far (archive/record.py, CommittedPart), in order."""
    return _key("build_parts", build_id)


def lease(build_id: str) -> str:
    """Set while the build's worker is alive (renewed by it, lapses when it dies)."""
    return _key("lease", build_id)


def owner_feed(owner: str) -> str:
    """Every event of every ticket of one owner, in one stream: what a page follows."""
    return _key("owner_feed", owner)


def owner_tickets(owner: str) -> str:
    """The owner's ticket ids, scored by creation time (ms)."""
    return _key("owner_tickets", owner)


def app(app_id: str) -> str:
    return _key("app", app_id)


QUEUE = PREFIX + "queue"
"""Waiting builds scored by priority, then arrival (scheduling/dispatcher.py)."""
QUEUE_BY_SIZE = PREFIX + "queue:by-size"
"""The same builds by size, largest first: backfill finds the largest that fits."""
RUNNING = PREFIX + "running"
"""Admitted builds: each holds a build slot."""
SPACE_HELD = PREFIX + "space:held"
"""Bytes of ready archives still stored."""
SPACE_RESERVED = PREFIX + "space:reserved"
"""Estimates of the admitted builds."""
BUILDS_BY_EXPIRY = PREFIX + "builds:expiry"
"""Every build, scored by when its last holding ticket expires: the sweeper reads it."""
METRICS = PREFIX + "metrics"
"""Cluster-wide counters and histograms (metrics/cluster.py)."""

SHARED = (QUEUE, QUEUE_BY_SIZE, RUNNING, SPACE_HELD, SPACE_RESERVED, BUILDS_BY_EXPIRY, METRICS)
"""KEYS[1..7] of every ticket, build and queue script, in this order."""
_SHARED_NAMES = ("QUEUE", "BY_SIZE", "RUNNING", "HELD", "RESERVED", "BY_EXPIRY", "METRICS")

# Apps, users and sessions (auth/store.py).
APPS = PREFIX + "apps"


def api_key(key_digest: str) -> str:
    """The app id an API key (by its digest) belongs to."""
    return f"{PREFIX}apikey:{key_digest}"


def user(username: str) -> str:
    return f"{PREFIX}user:{username.lower()}"


def app_users(app_id: str) -> str:
    """The lower-case names of the app's users."""
    return f"{PREFIX}app-users:{app_id}"


def session(token_digest: str) -> str:
    return f"{PREFIX}session:{token_digest}"


def user_sessions(username: str) -> str:
    """The digests of a user's open sessions, to end them all at once."""
    return f"{PREFIX}user-sessions:{username.lower()}"


def rate(name: str, caller: str) -> str:
    """One caller's theoretical arrival time for one rate limit (auth/limits.py)."""
    return f"{PREFIX}rate:{name}:{caller}"


def login_failures(kind: str, who: str) -> str:
    """Recent failed logins of a user name or an address (``kind`` 'user' or 'addr')."""
    return f"{PREFIX}login-failures:{kind}:{who}"


def login_wait(kind: str, who: str) -> str:
    """Set while further logins of that name or address must wait."""
    return f"{PREFIX}login-wait:{kind}:{who}"


def webhook_sent(ticket_id: str, status: str) -> str:
    """Set, once, by the attempt that delivered the ticket's webhook for that state."""
    return f"{PREFIX}webhook-sent:{ticket_id}:{status}"


def webhook_attempt(ticket_id: str, status: str) -> str:
    """Held while an attempt of that delivery is under way, so two never overlap."""
    return f"{PREFIX}webhook-attempt:{ticket_id}:{status}"


def lua_key_functions() -> str:
    """Lua for every script: K.<name>(id) builds the key of one thing, as the functions above do."""
    lines = ["local K = {}"]
    for name, template in _TEMPLATES.items():
        before, after = (PREFIX + template).split("{}")
        tail = f" .. '{after}'" if after else ""
        lines.append(f"function K.{name}(id) return '{before}' .. id{tail} end")
    return "\n".join(lines) + "\n"


def lua_shared_keys() -> str:
    """Lua for the scripts that take the shared keys: a local name for each of KEYS[1..7]."""
    return "".join(f"local {name} = KEYS[{i}]\n" for i, name in enumerate(_SHARED_NAMES, start=1))


def source_crc(pin_digest: str) -> str:
    """The CRC-32 of one pinned source's bytes (archive/crc_cache.py), by the SHA-256 of its pin."""
    return f"{PREFIX}crc:{pin_digest}"


def sweep_slot(slot: int) -> str:
    """Taken by the one sweep that runs in interval number ``slot`` (see expiry/schedule.py)."""
    return f"{PREFIX}sweep:slot:{slot}"
