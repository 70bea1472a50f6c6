"""The queue's priorities, and typed calls of the scheduler's scripts: dispatch, release,
reclaim (lua/dispatch.lua, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from filegate.state import keys
from filegate.state.scripts import Call


class Priority(StrEnum):
    """One ``high | normal | low`` for the queue (scheduling/priority.py gives each broker's own
    message priority for it)."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


RANK: dict[Priority, int] = {Priority.HIGH: 0, Priority.NORMAL: 1, Priority.LOW: 2}
"""Ascending rank: the order in which queued builds are admitted."""
BY_RANK: dict[int, Priority] = {rank: priority for priority, rank in RANK.items()}

PRIORITY_WEIGHT = 10**14
"""Priority dominates a queue score; arrival (ms) orders within a priority."""
POSITION_WINDOW = 100
"""Each dispatch tells the first this many waiting builds their place; the sweep tells all."""
ALL_POSITIONS = 100_000
LEASE_SECONDS = 30
"""A running build's lease: renewed by its worker, it lapses this long after the worker died."""
UNSTARTED_SECONDS = 600
"""A build admitted but not started after this long lost its message (the broker lost it, or its
queue was purged): it goes back in the queue. A message merely waiting for a busy worker is at
worst sent twice, and the second finds the build started or done."""


def queue_score(rank: int, arrival_ms: int) -> int:
    return rank * PRIORITY_WEIGHT + arrival_ms


def by_size_member(score: int, build_id: str) -> str:
    """A queued build in the index by size: its queue score first, so equal sizes keep queue order."""
    return f"{score:020d}:{build_id}"


@dataclass(frozen=True, slots=True)
class Limits:
    max_slots: int
    budget: int
    """Bytes for held archives and running builds together; -1 for no fixed budget."""
    free: int
    """Bytes free on the output file system minus the reserve; -1 when not measured."""
    max_wait_ms: int

    def args(self, now_ms: int, window: int = POSITION_WINDOW) -> tuple[str, ...]:
        """ARGV of lib/dispatch.lua's ``dispatch_from``."""
        return tuple(
            str(value)
            for value in (
                self.max_slots,
                self.budget,
                self.free,
                now_ms,
                self.max_wait_ms,
                PRIORITY_WEIGHT,
                window,
            )
        )


Admitted = list[tuple[str, int]]
"""(build id, priority rank) of each build the dispatcher let in."""


def read_admitted(reply: Any) -> Admitted:
    return [(str(build_id), int(rank)) for build_id, rank in reply]


def dispatch(limits: Limits, now_ms: int, window: int = POSITION_WINDOW) -> Call[Admitted]:
    """Admit what fits now; the first ``window`` waiting builds learn their place."""
    return Call.shared("dispatch", (), limits.args(now_ms, window), read_admitted)


def release(build_id: str, stored_bytes: int) -> Call[bool]:
    """Give the build's slot back; its reservation becomes the bytes it now stores."""
    return Call.shared("release", (keys.build(build_id),), (build_id, stored_bytes), lambda reply: reply == 1)


def reclaim(now_ms: int, unstarted_seconds: int = UNSTARTED_SECONDS) -> Call[list[str]]:
    """Builds whose worker died, or whose message was lost: back in the queue."""
    return Call.shared(
        "reclaim", (), (now_ms, unstarted_seconds * 1000), lambda reply: [str(build_id) for build_id in reply]
    )
