"""Typed calls of the build scripts: a build's status, progress, retirement and end."""

from __future__ import annotations

import json
from typing import Any

from filegate.state import keys
from filegate.state.scripts import Call
from filegate.state.states import TICKET_STATUS, BuildStatus


def transition(
    build_id: str, status: BuildStatus, event: dict[str, Any], fields: dict[str, str], holder: str = ""
) -> Call[int]:
    """Change the build and every ticket holding it (lua/transition.lua): the number of tickets
    changed, -1 when the build's status forbids the change, -2 when ``holder`` (if given) no
    longer holds the build's lease."""
    shown = {"status": TICKET_STATUS[status].value, **event}
    args: list[str] = [build_id, status.value, json.dumps(shown), holder]
    for name, value in fields.items():
        args += [name, value]
    return Call.shared("transition", (keys.build(build_id),), tuple(args), int)


def progress(build_id: str, data: dict[str, Any]) -> Call[None]:
    return Call.shared("progress", (keys.build_tickets(build_id),), (json.dumps(data),), lambda _: None)


def part_ready(build_id: str, committed: str, event: dict[str, Any], holder: str) -> Call[int]:
    """List a part the build committed and tell its tickets (lua/part_ready.lua): the number of
    tickets told, -1 when the build is no longer building, -2 when ``holder`` no longer holds it."""
    args = (build_id, committed, json.dumps(event), holder)
    return Call.shared("part_ready", (keys.build(build_id),), args, int)


def lease(build_id: str, holder: str, seconds: int, mode: str, force: bool = False) -> Call[Any]:
    """Take, renew or drop the build's lease for ``holder`` (lua/lease.lua)."""
    args = (build_id, holder, seconds, mode, "1" if force else "0")
    return Call.shared("lease", (keys.build(build_id),), args, lambda reply: reply)


def fail_unsent(build_id: str, reason: str) -> Call[int]:
    """An admitted build whose message could not be sent fails, its slot given back."""
    event = json.dumps({"status": TICKET_STATUS[BuildStatus.FAILED].value, "error": reason})
    return Call.shared("fail_unsent", (keys.build(build_id),), (build_id, event, reason), int)


def retire(build_id: str, now_s: float) -> Call[str]:
    """'gone', 'held', 'busy' or 'delete' (lua/retire.lua)."""
    return Call.shared("retire", (keys.build(build_id),), (build_id, repr(now_s)), str)


def forget(build_id: str) -> Call[bool]:
    return Call.shared("forget", (keys.build(build_id),), (build_id,), lambda reply: reply == 1)


def drop(build_id: str, fingerprint: str, now_s: float) -> Call[None]:
    """Stop reusing a ready build whose objects went missing; the sweeper removes the rest."""
    own = (keys.build(build_id), keys.fingerprint(fingerprint))
    return Call.shared("drop", own, (build_id, repr(now_s)), lambda _: None)
