"""The worker's side of scheduling: a build gives its slot back, and what fits next is admitted."""

from __future__ import annotations

import logging

from filegate.archive.registry import BuildRegistry, BuildStatus
from filegate.licence.check import LicenceCheck
from filegate.scheduling.dispatcher import ALL_POSITIONS, POSITION_WINDOW, Admission, current_limits
from filegate.settings import Settings

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, builds: BuildRegistry, settings: Settings, licence: LicenceCheck) -> None:
        self._builds = builds
        self._settings = settings
        self._licence = licence

    def finish(self, build_id: str) -> list[Admission]:
        """Release the build's slot (its reservation becomes what it stores) and dispatch;
        returns the builds admitted, to be sent to the workers."""
        build = self._builds.get(build_id)
        stored = sum(part.size for part in build.parts) if build and build.status is BuildStatus.READY else 0
        self._builds.release(build_id, stored)
        return self.dispatch()

    def reclaim(self) -> list[str]:
        """Builds whose worker died (their lease lapsed) go back in the queue."""
        lost = self._builds.reclaim_lost()
        for build_id in lost:
            log.warning("build %s lost its worker: queued again", build_id)
        return lost

    def dispatch(self, *, every_position: bool = False) -> list[Admission]:
        """Admit what fits now. Every waiting build learns its place with ``every_position`` (the
        periodic sweep); otherwise the first POSITION_WINDOW, at a cost that does not grow with
        the queue."""
        limits = current_limits(self._settings, self._licence.max_concurrent_builds())
        return self._builds.dispatch(limits, ALL_POSITIONS if every_position else POSITION_WINDOW)
