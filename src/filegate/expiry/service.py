"""The sweeper finds builds due for deletion; the delete task removes their objects, one at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from filegate.archive.registry import BuildRegistry, TicketsReached
from filegate.state.states import TicketStatus
from filegate.storage.base import Storage

log = logging.getLogger(__name__)


class ExpiryService:
    def __init__(
        self,
        builds: BuildRegistry,
        storage: Storage,
        stale_after_seconds: int,
        tickets_reached: TicketsReached | None = None,
    ) -> None:
        self._tickets_reached = tickets_reached
        self._builds = builds
        self._storage = storage
        self._stale_after_seconds = stale_after_seconds

    def sweep(self, enqueue_delete: Callable[[str], None]) -> int:
        """Hand every build due by now to ``enqueue_delete``; returns how many.

        Reads the sorted set, not key-expiry notifications: a build that fell
        due while every process was down is found all the same.
        """
        now = datetime.now(UTC)
        handed = 0
        for build_id in self._builds.due(now):
            outcome = self._builds.retire(build_id, now)
            if outcome == "delete":
                # Its tickets are expired now (a repeat finds their webhooks delivered already).
                if self._tickets_reached is not None:
                    self._tickets_reached(build_id, TicketStatus.EXPIRED)
                enqueue_delete(build_id)
                handed += 1
        try:
            running = self._builds.running()
            removed = self._storage.discard_stale_incomplete(self._stale_after_seconds, running)
        except Exception:
            log.exception("could not remove the leftovers of crashed builds")
        else:
            if removed:
                log.info("removed %d leftovers of crashed builds", removed)
        return handed

    def delete(self, build_id: str) -> None:
        """Delete a retired build's objects, then forget it; a failure leaves it for the next sweep."""
        build = self._builds.get(build_id)
        if build is None:
            return
        # A build that ended without an archive may still have parts committed by a delivery.
        committed = [part.part for part in self._builds.committed_parts(build_id).values()]
        keys = {part.key: None for part in [*build.parts, *committed] if not part.is_direct}
        for key in keys:
            self._storage.delete_output(key)
        self._builds.forget(build_id)
        log.info("build %s deleted (%d objects)", build_id, len(keys))
