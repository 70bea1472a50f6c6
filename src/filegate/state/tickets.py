"""Typed calls of the ticket scripts: create, claim a build, cancel, release."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from filegate.state import keys
from filegate.state.queue import Admitted, Limits, read_admitted
from filegate.state.scripts import Call


def create(
    ticket_id: str, fields: dict[str, str], created_ms: int, forget_at_s: int, first_event: dict[str, Any]
) -> Call[None]:
    """A ticket that needs no build (one file linked directly), ready at once."""
    args = (ticket_id, json.dumps(fields), created_ms, forget_at_s, json.dumps(first_event))
    return Call.shared("create_ticket", (keys.ticket(ticket_id),), args, lambda _: None)


@dataclass(frozen=True, slots=True)
class NewBuild:
    """The build a claim queues when no identical one is queued, building or ready."""

    build_id: str
    fields: dict[str, str]
    manifest_json: str
    score: int
    estimate: int


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: str
    """'new', 'joined', 'reused' (a ready build), or 'verify' (nothing written: see lua/claim.lua)."""
    build_id: str
    ticket: dict[str, str] = field(default_factory=dict)
    """The ticket's fields as stored (empty for 'verify')."""
    admitted: Admitted = field(default_factory=list)
    """What the dispatch after a new build admitted: to be sent to the workers."""
    parts_json: str = "[]"
    """For 'verify': the ready build's parts, whose objects the caller checks."""


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


def _read_claim(reply: list[Any]) -> Claim:
    outcome, build_id = str(reply[0]), str(reply[1])
    if outcome == "verify":
        return Claim(outcome, build_id, parts_json=str(reply[2] or "[]"))
    return Claim(outcome, build_id, _pairs(reply[2]), read_admitted(reply[3]))


def claim(
    fingerprint: str,
    ticket_id: str,
    ticket_fields: dict[str, str],
    expires_at_s: float,
    forget_at_s: int,
    now_ms: int,
    new: NewBuild,
    verified_build_id: str,
    limits: Limits | None,
) -> Call[Claim]:
    """The ticket, holding the build of ``fingerprint``, in one round trip; with ``limits``, a new
    build is dispatched in the same step."""
    args: tuple[str | int | float, ...] = (
        fingerprint,
        new.build_id,
        ticket_id,
        repr(expires_at_s),
        forget_at_s,
        json.dumps(ticket_fields),
        json.dumps(new.fields),
        new.manifest_json,
        new.score,
        new.estimate,
        now_ms,
        verified_build_id,
    )
    if limits is not None:
        args += limits.args(now_ms)
    return Call.shared("claim", (keys.fingerprint(fingerprint), keys.ticket(ticket_id)), args, _read_claim)


def cancel(ticket_id: str) -> Call[str]:
    """'final' (nothing to cancel), 'ticket' (others still hold the build), 'dequeued' (its
    queued build left the queue) or 'running'."""
    return Call.shared("cancel", (keys.ticket(ticket_id),), (ticket_id,), str)


def discard(ticket_id: str, now_s: float) -> Call[str]:
    """End a ready ticket now: 'released', or 'not_ready'."""
    return Call.shared("discard", (keys.ticket(ticket_id),), (ticket_id, repr(now_s)), str)
