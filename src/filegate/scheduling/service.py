"""The worker's side of scheduling: a build gives its slot back, what fits next is admitted and
sent, and builds whose worker died go back in the queue."""

from __future__ import annotations

import logging
from collections.abc import Callable

from filegate.archive.registry import BuildRegistry, TicketsReached
from filegate.licence.check import LicenceCheck
from filegate.scheduling.admission import Sent, send_admitted
from filegate.scheduling.dispatcher import Admission, admissions, current_limits
from filegate.settings import Settings
from filegate.state.queue import ALL_POSITIONS, POSITION_WINDOW
from filegate.state.states import BuildStatus, TicketStatus

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        builds: BuildRegistry,
        settings: Settings,
        licence: LicenceCheck,
        send: Callable[[Admission], None] | None = None,
        tickets_reached: TicketsReached | None = None,
    ) -> None:
        self._tickets_reached = tickets_reached
        self._builds = builds
        self._settings = settings
        self._licence = licence
        self._send = send

    def finish(self, build_id: str) -> list[Admission]:
        """Release the build's slot (its reservation becomes what it stores), then admit and send
        what fits now; returns the builds sent."""
        build = self._builds.get(build_id)
        stored = sum(part.size for part in build.parts) if build and build.status is BuildStatus.READY else 0
        self._builds.release(build_id, stored)
        return self.admit()

    def reclaim(self) -> list[str]:
        """Builds whose worker died (their lease lapsed) go back in the queue."""
        lost = self._builds.reclaim_lost()
        for build_id in lost:
            log.warning("build %s lost its worker: queued again", build_id)
        return lost

    def dispatch(self, *, every_position: bool = False) -> list[Admission]:
        """Admit what fits now, without sending. Every waiting build learns its place with
        ``every_position`` (the periodic sweep); otherwise the first POSITION_WINDOW, at a cost that
        does not grow with the queue."""
        limits = current_limits(self._settings, self._licence.max_concurrent_builds())
        window = ALL_POSITIONS if every_position else POSITION_WINDOW
        return admissions(self._builds.dispatch(limits, window))

    def admit(self, *, every_position: bool = False) -> list[Admission]:
        """Admit what fits now and send it to the workers (the one admission step of the tasks);
        a build that cannot be sent fails and gives its slot back. Returns the builds sent."""
        if self._send is None:
            raise RuntimeError("this scheduler was made without a way to send builds")
        outcome: Sent = send_admitted(self.dispatch(every_position=every_position), self._send)
        for failure in outcome.failures():
            self._builds.run(failure)
        if self._tickets_reached is not None:
            for unsent in outcome.unsent:
                self._tickets_reached(unsent.build_id, TicketStatus.FAILED)
        return outcome.sent
