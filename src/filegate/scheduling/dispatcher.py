"""The dispatcher: admits queued builds while a slot is free and the space budget holds them.

Celery alone runs tasks first in, first out; filegate decides instead. Queued
builds wait in a sorted set (priority, then arrival). One Lua script (state/lua/lib/dispatch.lua) walks it
in order and admits each build while it fits. The first that does not fit in
the free space is passed over, and the builds behind it that fit are admitted
instead, largest first (backfill): no slot idles while a waiting build fits,
and the small builds are left to run beside the large ones still waiting. Once
the build passed over has waited longer than ``max_wait``, or has less than
``max_wait`` left before its tickets expire, nothing overtakes it any more
until it fits (no starvation).
Running the script twice at once is harmless: Redis runs scripts one at a time,
and each admitted build leaves the queue as it is admitted.

Space: ``held`` counts the bytes of ready archives still stored, ``reserved``
the estimates of running builds. A fixed budget must hold both; with
``auto`` the free space of the output file system (which already excludes
what is held) minus a reserve must hold the reservations.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from filegate.archive.parts import END_RECORDS_BOUND, entry_bound
from filegate.settings import Settings, StorageKind
from filegate.snapshot.manifest import Manifest
from filegate.state import queue
from filegate.state.queue import BY_RANK, RANK, Admitted, Limits, Priority


def estimate_bytes(manifest: Manifest) -> int:
    """What a build may take on disk: its sources, plus headers and deflate's worst case."""
    return sum(entry_bound(entry) for entry in manifest.entries) + END_RECORDS_BOUND


def queue_score(priority: Priority, arrival_ms: int) -> int:
    return queue.queue_score(RANK[priority], arrival_ms)


@dataclass(frozen=True, slots=True)
class Admission:
    """A build the dispatcher let in: it is to be sent to the workers at its priority."""

    build_id: str
    priority: Priority


def admissions(admitted: Admitted) -> list[Admission]:
    """The dispatcher's answer, with priorities."""
    return [Admission(build_id, BY_RANK[rank]) for build_id, rank in admitted]


def current_limits(settings: Settings, max_builds: int) -> Limits:
    """The limits now, with at most ``max_builds`` at once (the setting, capped by the licence);
    ``auto`` measures the output folder's free space (local store only: one statvfs)."""
    budget = -1 if settings.space_budget is None else settings.space_budget
    free = -1
    if settings.space_budget is None and settings.storage is StorageKind.LOCAL:
        try:
            free = max(0, shutil.disk_usage(settings.output_dir).free - settings.space_reserve)
        except FileNotFoundError:
            settings.output_dir.mkdir(parents=True, exist_ok=True)
            free = max(0, shutil.disk_usage(settings.output_dir).free - settings.space_reserve)
    return Limits(max_builds, budget, free, settings.max_wait * 1000)


def fits_at_all(settings: Settings, estimate: int) -> bool:
    """Whether a build of ``estimate`` bytes could ever run: not when it exceeds the whole budget."""
    if settings.space_budget is not None:
        return estimate <= settings.space_budget
    return True
