"""Running one build: building → ready, or failed with a reason a person can read."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from redis.exceptions import RedisError
from urllib3.exceptions import HTTPError

from filegate.archive.builder import BuildCancelled, KnownCrcs, Progress, build_parts
from filegate.archive.crc_cache import CrcCache, crcs_before_build
from filegate.archive.holder import active, is_dead, new_holder
from filegate.archive.parts import part_name, plan_parts
from filegate.archive.record import BuildRecord, CommittedPart
from filegate.archive.registry import BuildRegistry, BuildTakenOver, TicketsReached
from filegate.errors import FilegateError
from filegate.metrics.cluster import BuildMetrics
from filegate.snapshot.manifest import Manifest
from filegate.state.queue import LEASE_SECONDS
from filegate.state.states import TICKET_STATUS, BuildStatus
from filegate.storage.base import Storage, StorageUnavailable

log = logging.getLogger(__name__)

# Failures of the infrastructure rather than of the request: the build is
# tried again later (it is idempotent) instead of failing its tickets.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (RedisError, StorageUnavailable, HTTPError, ConnectionError)


_KEPT_ON: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, BuildTakenOver)
"""Ends of a build that keep its committed parts: it is tried again, or goes on elsewhere."""


class BuildHeldElsewhere(Exception):
    """Another worker is building it and its lease runs: this delivery leaves the build alone (if
    that worker dies, its lease lapses and the sweep queues the build again)."""


class ArchiveService:
    def __init__(
        self,
        builds: BuildRegistry,
        storage: Storage,
        progress_interval_ms: int = 250,
        lease_seconds: int = LEASE_SECONDS,
        metrics: BuildMetrics | None = None,
        tickets_reached: TicketsReached | None = None,
        crc_cache: CrcCache | None = None,
    ) -> None:
        self._crc_cache = crc_cache
        self._tickets_reached = tickets_reached
        self._lease_seconds = lease_seconds
        self._metrics = metrics
        self._builds = builds
        self._storage = storage
        self._progress_interval = progress_interval_ms / 1000

    def build(self, build_id: str) -> BuildStatus | None:
        """Build unless already done, or no longer wanted; returns the status reached.

        Raises one of TRANSIENT_ERRORS when Redis or the store cannot be reached.
        """
        build = self._builds.get(build_id)
        if build is None or build.status not in (BuildStatus.QUEUED, BuildStatus.BUILDING):
            log.info("build %s skipped: %s", build_id, build.status if build else "unknown")
            return build.status if build else None
        if build.expires_at <= datetime.now(UTC):
            # Every ticket holding it expired while it waited: it is never built.
            self._transition(build_id, BuildStatus.EXPIRED)
            log.info("build %s skipped: its tickets expired while it was queued", build_id)
            return BuildStatus.EXPIRED
        manifest = self._builds.manifest(build_id)
        if manifest is None:
            return None
        holder = new_holder()
        with self._lease(build_id, holder) as taken_over:
            if not self._builds.transition(build_id, BuildStatus.BUILDING, holder=holder):
                return None
            started = time.monotonic()
            # Only a first start waited in the queue: a build delivered again was building already.
            if self._metrics and build.status is BuildStatus.QUEUED and build.queued_at is not None:
                self._metrics.build_started((datetime.now(UTC) - build.queued_at).total_seconds())
            status, stored_bytes = self._run(build_id, build, manifest, holder, taken_over)
            if self._metrics:
                self._metrics.build_ended(status.value, time.monotonic() - started, stored_bytes)
            return status

    @contextlib.contextmanager
    def _lease(self, build_id: str, holder: str) -> Iterator[threading.Event]:
        """Hold the build's lease while it runs: if this process dies, the lease lapses and the
        sweeper puts the build back in the queue for another worker. The event yielded is set once
        another worker took the build over (this one was cut off longer than the lease); the
        build then stops without touching what the other one writes.

        Raises BuildHeldElsewhere when another worker's lease still runs."""
        other = self._builds.take_lease(build_id, holder, self._lease_seconds)
        if other is not None and is_dead(other):
            log.info("build %s: its last worker (%s) is dead; taken over at once", build_id, other)
            other = self._builds.take_lease(build_id, holder, self._lease_seconds, force=True)
        if other is not None:
            raise BuildHeldElsewhere(other)
        stop, taken_over = threading.Event(), threading.Event()

        def renew() -> None:
            while not stop.wait(self._lease_seconds / 3):
                try:
                    if not self._builds.renew_lease(build_id, holder, self._lease_seconds):
                        log.warning("build %s was taken over by another worker: this one stops", build_id)
                        taken_over.set()
                        return
                except RedisError:
                    log.warning("could not renew the lease of build %s", build_id)

        heart = threading.Thread(target=renew, name=f"lease-{build_id}", daemon=True)
        heart.start()
        try:
            with active(holder):
                yield taken_over
        finally:
            stop.set()
            heart.join()
            with contextlib.suppress(RedisError):
                self._builds.drop_lease(build_id, holder)

    def _run(
        self, build_id: str, build: BuildRecord, manifest: Manifest, holder: str, taken_over: threading.Event
    ) -> tuple[BuildStatus, int]:
        """The status the build ended in, and the bytes it stored. Raises BuildTakenOver when
        another worker took the build over meanwhile: its committed parts stay for that one."""
        started = time.monotonic()
        context = {"build_id": build_id, "ticket_ids": self._builds.tickets(build_id)}

        def step(outcome: str, **fields: object) -> dict[str, object]:
            """The fields of a log line for this build: its tickets, and how long it has run."""
            duration_ms = round((time.monotonic() - started) * 1000)
            return {**context, "step": outcome, "duration_ms": duration_ms, **fields}

        log.info(
            "build %s started: %d files, %d bytes",
            build_id,
            manifest.file_count,
            manifest.total_size,
            extra=step("started", files=manifest.file_count, source_bytes=manifest.total_size),
        )

        def report(progress: Progress) -> None:
            self._builds.progress(build_id, progress.to_dict())

        options = build.options
        plan = plan_parts(manifest, options.split_size)
        try:
            resumed = self._resumable_parts(build_id, build, len(plan))
            if resumed:
                log.info(
                    "build %s resumed after part %d of %d",
                    build_id,
                    len(resumed),
                    len(plan),
                    extra=step("resumed", parts_kept=len(resumed)),
                )
            # A build delivered again after its worker died finds the dead
            # build's partial output here: it goes before anything is written.
            for number in range(len(resumed) + 1, len(plan) + 1):
                self._storage.discard_incomplete(f"{build_id}/{part_name(options.name, number, len(plan))}")
            self._storage.discard_incomplete(f"{build_id}/{options.name}.manifest.json")
            crcs = KnownCrcs(before=crcs_before_build(self._storage, plan, self._crc_cache))
            try:
                parts = build_parts(
                    self._storage,
                    plan,
                    options.name,
                    build_id,
                    options.compression,
                    _throttled(report, self._progress_interval),
                    on_change=options.on_change,
                    should_stop=self._stop_check(build_id, taken_over),
                    resumed=resumed,
                    on_committed=lambda committed: self._committed(build_id, committed, holder),
                    kept_on=_KEPT_ON,
                    crcs=crcs,
                )
            finally:
                # What the build computed is right even if it went no further.
                self._remember_crcs(crcs)
        except BuildTakenOver:
            raise
        except TRANSIENT_ERRORS:
            if taken_over.is_set():
                # Cut off from the store as from Redis: the other worker has the build, no retry.
                raise BuildTakenOver(build_id) from None
            raise
        except BuildCancelled:
            self._discard_committed(build_id)
            self._transition(build_id, BuildStatus.CANCELLED)
            log.info("build %s cancelled; its partial output is removed", build_id, extra=step("cancelled"))
            return BuildStatus.CANCELLED, 0
        except FilegateError as exc:
            log.info("build %s failed: %s", build_id, exc.detail, extra=step("failed"))
            return self.fail(build_id, exc.detail), 0
        except Exception as exc:
            log.exception("build %s failed", build_id, extra=step("failed"))
            reason = f"the archive could not be built ({type(exc).__name__}: {exc})"
            return self.fail(build_id, reason), 0
        files, size = manifest.file_count, manifest.total_size
        report(Progress(files, files, size, size, len(plan), len(plan)))
        encoded = json.dumps([part.to_dict() for part in parts])
        archives = sum(1 for part in parts if part.role == "part")
        self._transition(build_id, BuildStatus.READY, {"parts": archives}, holder=holder, parts=encoded)
        stored = sum(part.size for part in parts)
        log.info(
            "build %s ready: %d parts, %d bytes",
            build_id,
            archives,
            stored,
            extra=step("ready", parts=archives, bytes=stored),
        )
        return BuildStatus.READY, stored

    def _remember_crcs(self, crcs: KnownCrcs) -> None:
        if self._crc_cache is not None:
            self._crc_cache.remember(self._storage, crcs.found)

    def _stop_check(
        self, build_id: str, taken_over: threading.Event, interval_seconds: float = 0.5
    ) -> Callable[[], bool]:
        """Whether the build was cancelled, asking Redis at most every ``interval_seconds``; raises
        BuildTakenOver once another worker holds it."""
        last = time.monotonic()

        def cancelled() -> bool:
            nonlocal last
            if taken_over.is_set():
                raise BuildTakenOver(build_id)
            now = time.monotonic()
            if now - last < interval_seconds:
                return False
            last = now
            return self._builds.is_cancelled(build_id)

        return cancelled

    def fail(self, build_id: str, reason: str) -> BuildStatus:
        self._discard_committed(build_id)
        self._transition(build_id, BuildStatus.FAILED, {"error": reason}, error=reason)
        return BuildStatus.FAILED

    def _resumable_parts(
        self, build_id: str, build: BuildRecord, parts_total: int
    ) -> dict[int, CommittedPart]:
        """The parts an earlier delivery of the build committed that are still stored, from part 1
        on without a gap: the build goes on after them."""
        committed = self._builds.committed_parts(build_id)
        kept: dict[int, CommittedPart] = {}
        for number in range(1, parts_total + 1):
            part = committed.get(number)
            expected = f"{build_id}/{part_name(build.options.name, number, parts_total)}"
            if part is None or part.parts_total != parts_total or part.part.key != expected:
                break
            if not self._storage.output_exists(part.part.key):
                log.warning(
                    "build %s: committed part %d is no longer stored; it is built again", build_id, number
                )
                break
            kept[number] = part
        return kept

    def _committed(self, build_id: str, committed: CommittedPart, holder: str) -> None:
        if self._builds.part_ready(build_id, committed, holder):
            log.info(
                "build %s: part %d of %d committed (%d bytes)",
                build_id,
                committed.number,
                committed.parts_total,
                committed.part.size,
                extra={"build_id": build_id, "step": "part_ready", "part": committed.number},
            )

    def _discard_committed(self, build_id: str) -> None:
        """A build that ends without an archive removes the parts earlier deliveries committed (the
        sweeper removes what this misses)."""
        try:
            committed = self._builds.committed_parts(build_id)
        except RedisError:
            return
        for part in committed.values():
            try:
                self._storage.delete_output(part.part.key)
            except Exception:
                log.warning("could not remove part %s of build %s", part.part.key, build_id)

    def _transition(
        self,
        build_id: str,
        status: BuildStatus,
        event: dict[str, object] | None = None,
        holder: str = "",
        **fields: str,
    ) -> bool:
        """Change the build and its tickets, then queue the webhooks of those it brought to a final
        state (after the change: a webhook never tells of a state not stored)."""
        changed = self._builds.transition(build_id, status, event, holder, **fields)
        shown = TICKET_STATUS[status]
        if changed and shown.is_final and self._tickets_reached is not None:
            self._tickets_reached(build_id, shown)
        return changed


def _throttled(report: Callable[[Progress], None], interval_seconds: float) -> Callable[[Progress], None]:
    """At most one progress event per interval; the first always goes out (it tells the part count)."""
    last = -interval_seconds

    def throttled(progress: Progress) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= interval_seconds:
            last = now
            report(progress)

    return throttled
