"""Ticket and build states, and the transitions allowed between them: written once, here.

The Lua scripts get the same tables (``lua_states``), so a script names a
state as ``TS.ready`` or ``BS.building`` and asks ``TICKET_FROM[to][from]``
instead of spelling either out.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class TicketStatus(StrEnum):
    QUEUED = "queued"
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """No further change but expiry: a status stream ends here."""
        return self in FINAL_STATES


class BuildStatus(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"
    """Every holding ticket expired before the build started: it never will."""
    CANCELLED = "cancelled"
    """Its last holding ticket was cancelled."""
    DELETING = "deleting"
    """Retired by the sweeper: its objects are being deleted."""


FINAL_STATES = frozenset(
    {TicketStatus.READY, TicketStatus.FAILED, TicketStatus.CANCELLED, TicketStatus.EXPIRED}
)

PENDING_TICKET_STATES = frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING})
"""A ticket still waiting for its archive: it keeps its build wanted."""
LIVE_TICKET_STATES = PENDING_TICKET_STATES | {TicketStatus.READY}
"""A ticket whose build must stay stored."""
CLAIMABLE_BUILD_STATES = frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING, BuildStatus.READY})
"""A build a new identical request joins or reuses."""
ENDED_BUILD_STATES = frozenset({BuildStatus.FAILED, BuildStatus.EXPIRED, BuildStatus.CANCELLED})
"""A build no request may reach any more: its fingerprint is let go."""

# A build redelivered after its worker died finds the ticket still
# preparing: preparing -> preparing restarts it.
ALLOWED_FROM: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.QUEUED: frozenset(),
    TicketStatus.PREPARING: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.READY: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.FAILED: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.CANCELLED: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    # Every ticket expires in the end; only a cancelled one is left as it is.
    TicketStatus.EXPIRED: frozenset(
        {TicketStatus.READY, TicketStatus.QUEUED, TicketStatus.PREPARING, TicketStatus.FAILED}
    ),
}

BUILD_ALLOWED_FROM: dict[BuildStatus, frozenset[BuildStatus]] = {
    BuildStatus.QUEUED: frozenset(),
    BuildStatus.BUILDING: frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING}),
    BuildStatus.READY: frozenset({BuildStatus.BUILDING}),
    BuildStatus.FAILED: frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING}),
    BuildStatus.EXPIRED: frozenset({BuildStatus.QUEUED}),
    BuildStatus.CANCELLED: frozenset({BuildStatus.QUEUED, BuildStatus.BUILDING}),
    BuildStatus.DELETING: frozenset(
        {
            BuildStatus.QUEUED,
            BuildStatus.READY,
            BuildStatus.FAILED,
            BuildStatus.EXPIRED,
            BuildStatus.CANCELLED,
        }
    ),
}

# The ticket status each build status shows through (a deleting build's tickets are expired).
TICKET_STATUS: dict[BuildStatus, TicketStatus] = {
    BuildStatus.QUEUED: TicketStatus.QUEUED,
    BuildStatus.BUILDING: TicketStatus.PREPARING,
    BuildStatus.READY: TicketStatus.READY,
    BuildStatus.FAILED: TicketStatus.FAILED,
    BuildStatus.EXPIRED: TicketStatus.EXPIRED,
    BuildStatus.CANCELLED: TicketStatus.CANCELLED,
    BuildStatus.DELETING: TicketStatus.EXPIRED,
}


def _lua_set(values: Iterable[StrEnum]) -> str:
    return "{" + ", ".join(f"{value.value} = true" for value in sorted(values)) + "}"


def _lua_table(name: str, rows: dict[str, str]) -> str:
    return f"local {name} = {{" + ", ".join(f"{key} = {value}" for key, value in rows.items()) + "}\n"


def lua_states() -> str:
    """Lua for every script: the states (TS, BS), the transitions, and the sets above."""
    return "".join(
        (
            _lua_table("TS", {s.value: f"'{s.value}'" for s in TicketStatus}),
            _lua_table("BS", {s.value: f"'{s.value}'" for s in BuildStatus}),
            _lua_table("TICKET_FROM", {s.value: _lua_set(f) for s, f in ALLOWED_FROM.items()}),
            _lua_table("BUILD_FROM", {s.value: _lua_set(f) for s, f in BUILD_ALLOWED_FROM.items()}),
            _lua_table("SHOWN", {b.value: f"'{t.value}'" for b, t in TICKET_STATUS.items()}),
            f"local PENDING = {_lua_set(PENDING_TICKET_STATES)}\n",
            f"local LIVE = {_lua_set(LIVE_TICKET_STATES)}\n",
            f"local CLAIMABLE = {_lua_set(CLAIMABLE_BUILD_STATES)}\n",
            f"local ENDED = {_lua_set(ENDED_BUILD_STATES)}\n",
        )
    )
