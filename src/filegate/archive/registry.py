"""Builds in Redis, on the worker's synchronous client: one per fingerprint, shared by every
ticket that holds it.

A build is the archive of one pinned manifest with one set of options. Its
fingerprint maps to it while it is queued, building or ready, so identical
requests join it or reuse it; each holding ticket is in its ticket set, and
the build's expiry is the latest of theirs. Builds are listed by expiry,
where the sweeper finds the ones no live ticket holds. Every change is one
script of ``state/lua`` (through the typed calls of ``filegate.state``), so a
build, its tickets and their event streams change together; the scripts also
count the states reached in the metrics hash (metrics/cluster.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from filegate.archive.record import BuildRecord, CommittedPart
from filegate.snapshot.manifest import Manifest
from filegate.state import builds, keys, queue
from filegate.state.queue import LEASE_SECONDS, POSITION_WINDOW, Admitted, Limits
from filegate.state.scripts import Call, SyncState
from filegate.state.states import BuildStatus, TicketStatus

TicketsReached = Callable[[str, TicketStatus], None]
"""Told (build id, status) once a change of the build showed that final status on its tickets;
the worker's services call it so that each such ticket's webhook is queued (webhooks/notify.py)."""


class BuildTakenOver(Exception):
    """Another worker holds the build's lease now (this one was cut off long enough for its lease
    to lapse, or the build was delivered twice): this one stops, leaving the build to it."""


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class BuildRegistry:
    """The worker's side (builds, sweeps, deletes)."""

    def __init__(self, state: SyncState) -> None:
        self._state = state
        self._redis = state.client

    def run(self, call: Call[Any]) -> Any:
        """Run one typed call of ``filegate.state`` (the admission step's failures, for one)."""
        return self._state.run(call)

    def get(self, build_id: str) -> BuildRecord | None:
        fields = self._redis.hgetall(keys.build(build_id))
        return BuildRecord.from_redis(build_id, fields) if fields else None

    def tickets(self, build_id: str) -> list[str]:
        """The tickets holding the build (for log lines that follow a ticket)."""
        return sorted(self._redis.smembers(keys.build_tickets(build_id)))

    def callbacks(self, build_id: str, status: TicketStatus) -> list[str]:
        """The tickets holding the build that are in ``status`` and have a callback URL: those a
        webhook is owed after a transition to it."""
        ticket_ids = sorted(self._redis.smembers(keys.build_tickets(build_id)))
        with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ticket_ids:
                pipe.hmget(keys.ticket(ticket_id), "status", "callback_url")
            rows: list[list[str | None]] = pipe.execute()
        return [
            ticket_id
            for ticket_id, (shown, url) in zip(ticket_ids, rows, strict=True)
            if shown == status.value and url
        ]

    def manifest(self, build_id: str) -> Manifest | None:
        text = self._redis.get(keys.build_manifest(build_id))
        return Manifest.from_json(text) if text is not None else None

    def transition(
        self,
        build_id: str,
        status: BuildStatus,
        event: dict[str, Any] | None = None,
        holder: str = "",
        **fields: str,
    ) -> bool:
        """Change the build and every ticket holding it; False when the build's status forbids it.
        Given a ``holder``, raises BuildTakenOver when another worker holds the build's lease."""
        changed = self._state.run(builds.transition(build_id, status, event or {}, fields, holder))
        if changed == -2:
            raise BuildTakenOver(build_id)
        return bool(changed >= 0)

    def progress(self, build_id: str, progress: dict[str, Any]) -> None:
        self._state.run(builds.progress(build_id, progress))

    def part_ready(self, build_id: str, committed: CommittedPart, holder: str) -> bool:
        """List a committed part and tell the build's tickets; False once the build stopped
        building, BuildTakenOver when another worker than ``holder`` holds it."""
        told = self._state.run(builds.part_ready(build_id, committed.to_json(), committed.event(), holder))
        if told == -2:
            raise BuildTakenOver(build_id)
        return bool(told >= 0)

    def committed_parts(self, build_id: str) -> dict[int, CommittedPart]:
        """The parts the build committed, by number (a part listed twice, by two deliveries that
        overlapped, counts once: the last)."""
        rows: list[str] = self._redis.lrange(keys.build_parts(build_id), 0, -1)
        parts = (CommittedPart.from_json(row) for row in rows)
        return {part.number: part for part in parts}

    def running(self) -> set[str]:
        """The builds holding a slot now (admitted, building)."""
        members: set[str] = self._redis.smembers(keys.RUNNING)
        return members

    def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Builds whose latest holder expired by ``now``, oldest first."""
        ids: list[str] = self._redis.zrangebyscore(
            keys.BUILDS_BY_EXPIRY, "-inf", now.timestamp(), start=0, num=limit
        )
        return ids

    def retire(self, build_id: str, now: datetime) -> str:
        return self._state.run(builds.retire(build_id, now.timestamp()))

    def forget(self, build_id: str) -> None:
        self._state.run(builds.forget(build_id))

    def take_lease(
        self, build_id: str, holder: str, seconds: int = LEASE_SECONDS, *, force: bool = False
    ) -> str | None:
        """Make ``holder`` the one worker building the build (lua/lease.lua); None when it is, else
        the other holder whose lease still runs. ``force`` takes it from a holder known dead."""
        taken, current = self._state.run(builds.lease(build_id, holder, seconds, "take", force))
        return None if taken == 1 else str(current)

    def renew_lease(self, build_id: str, holder: str, seconds: int = LEASE_SECONDS) -> bool:
        """Tell the sweeper the holder is alive; False when another worker took the build over."""
        return bool(self._state.run(builds.lease(build_id, holder, seconds, "renew")) == 1)

    def drop_lease(self, build_id: str, holder: str) -> None:
        """The holder is done with the build (a lease another worker took is left alone)."""
        self._state.run(builds.lease(build_id, holder, 0, "drop"))

    def reclaim_lost(self) -> list[str]:
        """Builds whose worker died, or whose message was lost: back in the queue (lua/reclaim.lua)."""
        return self._state.run(queue.reclaim(_now_ms()))

    def is_cancelled(self, build_id: str) -> bool:
        return bool(self._redis.hget(keys.build(build_id), "cancel"))

    def release(self, build_id: str, held_bytes: int) -> None:
        """Give the build's slot back; its reservation becomes the bytes it now holds."""
        self._state.run(queue.release(build_id, held_bytes))

    def dispatch(self, limits: Limits, window: int = POSITION_WINDOW) -> Admitted:
        """Admit what fits now: (build id, priority rank) of each build to send to the workers. The
        first ``window`` waiting builds learn their place."""
        return self._state.run(queue.dispatch(limits, _now_ms(), window))
