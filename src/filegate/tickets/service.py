"""Tickets: turning a download request into a queued build, and answering for it after."""

from __future__ import annotations

import json
import logging
import posixpath
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from filegate.archive.record import ArchiveOptions, Part
from filegate.auth.principal import Principal
from filegate.callbacks import RefusedCallback, check_callback
from filegate.errors import Conflict, Forbidden, Gone, InvalidRequest, NotFound, TooLarge, Unavailable
from filegate.licence.check import LicenceCheck
from filegate.scheduling.admission import UNSENT_REASON, send_admitted
from filegate.scheduling.dispatcher import (
    Admission,
    admissions,
    current_limits,
    estimate_bytes,
    fits_at_all,
    queue_score,
)
from filegate.settings import Settings
from filegate.snapshot.manifest import Manifest, fingerprint_of
from filegate.snapshot.naming import safe_segment
from filegate.snapshot.paths import RequestedPath, normalise_paths
from filegate.snapshot.service import SnapshotLimits, take_snapshot
from filegate.state import queue
from filegate.state.queue import Priority
from filegate.state.states import TicketStatus
from filegate.state.tickets import NewBuild
from filegate.storage.base import Storage
from filegate.tickets.record import TicketRecord
from filegate.tickets.result import part_link, partial_result_body, result_body
from filegate.tickets.schemas import DownloadRequest
from filegate.tickets.store import TicketStore
from filegate.units import format_size, parse_duration, parse_size

log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


class WorkQueue(Protocol):
    """Where the API sends work for the workers (Celery in production)."""

    def send_build(self, admitted: Admission) -> None: ...

    def send_sweep(self) -> None:
        """Look for archives no live ticket holds now, rather than at the next periodic sweep."""

    def send_webhook(self, ticket_id: str, status: TicketStatus) -> None:
        """Tell the ticket's callback URL that it reached ``status`` (on the cleanup queue)."""


_VERIFY_ATTEMPTS = 3
"""A reused build's objects are checked, and the claim made again, at most this many times."""
_VERIFIED_FOR = 2.0
"""Seconds for which this process takes a ready build's objects, once found stored, as still
stored: a burst of requests for one archive checks them once, in one round trip less each."""
_VERIFIED_KEPT = 10_000
"""Ready builds remembered as checked, at most (the oldest go first)."""
_INLINE_STATS = 32
"""Up to this many paths are stat'ed on the event loop of a local store (see _snapshot)."""

_FORBIDDEN_NAME_CHARACTERS = set("/\\\x00")
MAX_NAME_LENGTH = 200


def archive_name(requested: str | None, first_path: str, path_count: int) -> str:
    """The download's base name: the one asked for, else the single item's, else 'download';
    made safe for Windows like entry names."""
    if requested is None:
        if path_count == 1:
            base = posixpath.basename(first_path)
            return safe_segment(posixpath.splitext(base)[0] or base)
        return "download"
    name = requested.strip()
    if name.lower().endswith(".zip"):
        name = name[:-4]
    if not name or name in (".", "..") or _FORBIDDEN_NAME_CHARACTERS & set(name):
        raise InvalidRequest(
            "the archive name must be a plain file name, without '/', '\\' or NUL",
            field="name",
            name=requested,
        )
    if len(name) > MAX_NAME_LENGTH or any(not ch.isprintable() for ch in name):
        raise InvalidRequest(
            f"the archive name must be at most {MAX_NAME_LENGTH} printable characters", field="name"
        )
    return safe_segment(name)


class TicketService:
    def __init__(
        self,
        settings: Settings,
        store: TicketStore,
        storage: Storage,
        work: WorkQueue,
        licence: LicenceCheck,
    ) -> None:
        self._licence = licence
        self._settings = settings
        self._store = store
        self._storage = storage
        self._work = work
        self._verified: dict[str, tuple[str, float]] = {}
        """Fingerprint → the ready build whose objects were found stored, and when (monotonic)."""

    def _expiry_seconds(self, expires_in: str | int | None) -> int:
        if expires_in is None:
            return self._settings.default_expiry
        try:
            seconds = parse_duration(expires_in)
        except ValueError as exc:
            raise InvalidRequest(str(exc), field="expires_in") from None
        if seconds <= 0:
            raise InvalidRequest("expires_in must be longer than zero", field="expires_in")
        if seconds > self._settings.max_expiry:
            raise InvalidRequest(
                f"expires_in is longer than the maximum of {self._settings.max_expiry} seconds",
                field="expires_in",
                max_seconds=self._settings.max_expiry,
            )
        return seconds

    def _split_size(self, split_size: str | int | None) -> int | None:
        if split_size is None:
            return self._settings.default_split_size
        try:
            size = parse_size(split_size)
        except ValueError as exc:
            raise InvalidRequest(str(exc), field="split_size") from None
        if size < self._settings.min_split_size:
            raise InvalidRequest(
                f"split_size must be at least {format_size(self._settings.min_split_size)}",
                field="split_size",
                min_bytes=self._settings.min_split_size,
            )
        return size

    async def create(self, request: DownloadRequest, principal: Principal) -> TicketRecord:
        if len(request.paths) > self._settings.max_paths:
            raise InvalidRequest(
                f"at most {self._settings.max_paths} paths may be requested at once",
                field="paths",
                max_paths=self._settings.max_paths,
            )
        licence = self._licence.state()
        if not licence.allows_new_downloads:
            raise Forbidden(f"new downloads are refused: {licence.reason}", licence=licence.status.value)
        requested = normalise_paths(request.paths, self._storage.path_limits)
        # Refused before anything is listed: the answer tells nothing of what exists there.
        outside = [
            raw
            for raw, path in zip(request.paths, requested, strict=True)
            if not principal.may_read(path.path)
        ]
        if outside:
            raise Forbidden("these paths are outside what you may read", field="paths", paths=outside)
        if not principal.may_use(request.priority):
            raise Forbidden(
                f"priority {request.priority.value!r} is above your highest, "
                f"{principal.max_priority.value!r}",
                field="priority",
            )
        expiry = self._expiry_seconds(request.expires_in)
        split_size = self._split_size(request.split_size)
        if request.split_size is None and "split" not in licence.limits.features:
            split_size = None  # the operator's default asks nothing of the licence: one ZIP
        name = archive_name(request.name, requested[0].path, len(requested))
        callback_url = self._callback_url(request.callback_url)
        manifest = await self._snapshot(requested)
        now = datetime.now(UTC)
        direct = _direct_part(manifest) if request.archive == "auto" else None
        record = TicketRecord(
            ticket_id=secrets.token_urlsafe(18),
            status=TicketStatus.READY if direct else TicketStatus.QUEUED,
            options=ArchiveOptions(
                name=name,
                compression=request.compression,
                split_size=split_size,
                on_change=request.on_change,
            ),
            created_at=now,
            expires_at=now + timedelta(seconds=expiry),
            file_count=manifest.file_count,
            total_size=manifest.total_size,
            parts=[direct] if direct else [],
            owner=principal.owner,
            callback_url=callback_url,
        )
        if direct:
            await self._store.create(record)
            await self._notify(record, TicketStatus.READY)
            return record  # one file needs no archive: its own link is ready now
        estimate = estimate_bytes(manifest)
        licence.require(
            estimate,
            split=split_size is not None,
            high_priority=request.priority is Priority.HIGH,
        )
        if not fits_at_all(self._settings, estimate):
            raise TooLarge(
                "the archive would be larger than the whole space budget",
                limit="space_budget",
                space_budget=self._settings.space_budget,
            )
        return await self._hold_build(record, manifest, request.priority, estimate)

    async def _hold_build(
        self, record: TicketRecord, manifest: Manifest, priority: Priority, estimate: int
    ) -> TicketRecord:
        """Reuse the ready build of the same fingerprint, join the one under way, or queue one and
        dispatch: one script, one round trip (two for a reuse, whose objects are checked first)."""
        manifest_json = manifest.to_json()  # 5,000 entries take a few milliseconds: made once
        fingerprint = fingerprint_of(manifest_json, record.options.to_dict())
        now_ms = int(record.created_at.timestamp() * 1000)
        new = NewBuild(
            build_id=secrets.token_urlsafe(12),
            fields={
                "options": json.dumps(record.options.to_dict()),
                "created_at": repr(record.created_at.timestamp()),
            },
            manifest_json=manifest_json,
            score=queue_score(priority, now_ms),
            estimate=estimate,
        )
        limits = current_limits(self._settings, self._licence.max_concurrent_builds())
        claim = await self._store.claim_build(record, fingerprint, new, self._checked(fingerprint), limits)
        for _ in range(_VERIFY_ATTEMPTS):
            if claim.outcome != "verify":
                break
            parts = [Part(**part) for part in json.loads(claim.parts_json)]
            verified = claim.build_id
            if await self._outputs_exist(parts):
                self._remember_checked(fingerprint, verified)
            else:
                log.warning("build %s lost objects from storage: it will be built again", claim.build_id)
                self._verified.pop(fingerprint, None)
                await self._store.drop_build(claim.build_id, fingerprint, now())
                verified = ""
            claim = await self._store.claim_build(record, fingerprint, new, verified, limits)
        if claim.outcome == "verify":
            raise Unavailable("the archive store keeps changing; try again", ticket_id=record.ticket_id)
        if claim.admitted:
            await self._send(admissions(claim.admitted), record.ticket_id)
            stored = await self._store.get(record.ticket_id)
            return stored or record
        held = TicketRecord.from_redis(record.ticket_id, claim.ticket)
        if claim.outcome == "reused":
            await self._notify(held, TicketStatus.READY)
        return held

    def _callback_url(self, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            return check_callback(url, self._settings.webhook_allowed_hosts).url
        except RefusedCallback as exc:
            raise InvalidRequest(str(exc), field="callback_url") from None

    async def _notify(self, record: TicketRecord, status: TicketStatus) -> None:
        """Queue the webhook of a ticket that just reached ``status``. After the change, never
        before it; a broker that cannot take it costs that one delivery (logged), not the call."""
        if record.callback_url:
            await self._queue_webhook(record.ticket_id, status)

    async def _queue_webhook(self, ticket_id: str, status: TicketStatus) -> None:
        try:
            await run_in_threadpool(self._work.send_webhook, ticket_id, status)
        except Exception:
            log.warning("could not queue the %s webhook of ticket %s", status.value, ticket_id)

    def _checked(self, fingerprint: str) -> str:
        """The ready build of ``fingerprint`` whose objects were found stored in the last
        _VERIFIED_FOR seconds, or ''."""
        checked = self._verified.get(fingerprint)
        if checked is None or time.monotonic() - checked[1] > _VERIFIED_FOR:
            return ""
        return checked[0]

    def _remember_checked(self, fingerprint: str, build_id: str) -> None:
        self._verified.pop(fingerprint, None)
        self._verified[fingerprint] = (build_id, time.monotonic())
        if len(self._verified) > _VERIFIED_KEPT:
            del self._verified[next(iter(self._verified))]

    async def _dispatch_after_leaving(self, ticket_id: str) -> None:
        """A build left the queue: the builds behind it move up (their places are told), and the
        build that others waited behind may have been this one (what fits now is admitted)."""
        limits = current_limits(self._settings, self._licence.max_concurrent_builds())
        admitted = await self._store.run(queue.dispatch(limits, int(now().timestamp() * 1000)))
        if admitted:
            try:
                await self._send(admissions(admitted), ticket_id)
            except Unavailable:  # the cancel itself is done; those builds failed with a reason
                log.warning("builds admitted after cancelling %s could not be sent", ticket_id)

    async def _send(self, admitted: list[Admission], ticket_id: str) -> None:
        """Send what the dispatcher admitted (off the event loop: Celery's send is blocking)."""
        sent = await run_in_threadpool(send_admitted, admitted, self._work.send_build)
        for failure in sent.failures():
            await self._store.run(failure)
        for unsent in sent.unsent:
            for failed in await self._store.callbacks(unsent.build_id, TicketStatus.FAILED):
                await self._queue_webhook(failed, TicketStatus.FAILED)
        if sent.unsent:
            raise Unavailable(f"{UNSENT_REASON}; try again later", ticket_id=ticket_id)

    async def _outputs_exist(self, parts: list[Part]) -> bool:
        if self._storage.metadata_is_local:
            return self._objects_exist(parts)
        return await run_in_threadpool(self._objects_exist, parts)

    def _objects_exist(self, parts: list[Part]) -> bool:
        return all(self._storage.output_exists(part.key) for part in parts)

    async def _snapshot(self, requested: list[RequestedPath]) -> Manifest:
        """The manifest; on a local store a request naming only files is taken on the event loop
        (a few stat calls cost less than the hop to a thread), anything that walks a folder in a
        thread."""
        limits = SnapshotLimits(self._settings.max_files, self._settings.max_total_size)
        entries = None
        if self._storage.metadata_is_local and len(requested) <= _INLINE_STATS:
            entries = [self._storage.stat(item.path) for item in requested]
            if all(entry is not None and not entry.is_dir for entry in entries):
                return take_snapshot(self._storage, requested, limits, entries)
        return await run_in_threadpool(take_snapshot, self._storage, requested, limits, entries)

    async def get(self, ticket_id: str, principal: Principal | None) -> TicketRecord:
        """The caller's ticket (any ticket for ``None``, the holder of a capability for it), or
        NotFound (also for another's: no way to probe which ids exist); Gone once expired."""
        record = await self._store.get(ticket_id)
        if record is None or (
            principal is not None and not secrets.compare_digest(record.owner, principal.owner)
        ):
            raise NotFound("no ticket has this id", ticket_id=ticket_id)
        if record.is_expired or record.status is TicketStatus.EXPIRED:
            raise Gone(
                "this ticket has expired", ticket_id=ticket_id, expires_at=record.expires_at.isoformat()
            )
        return record

    async def cancel(self, ticket_id: str, principal: Principal) -> TicketRecord:
        """Cancel a queued or preparing ticket (a build others still hold goes on for them), or
        release a ready one: it expires now, and its archive is deleted unless another live
        ticket holds it."""
        record = await self.get(ticket_id, principal)
        if record.status is TicketStatus.READY and await self._store.discard(ticket_id, now()) == "released":
            log.info("ticket %s released", ticket_id, extra={"ticket_id": ticket_id})
            await self._notify(record, TicketStatus.EXPIRED)
            if record.build_id is not None:
                try:
                    await run_in_threadpool(self._work.send_sweep)
                except Exception:  # the periodic sweep will find it
                    log.warning("could not ask for a sweep after releasing %s", ticket_id)
            released = await self._store.get(ticket_id)
            return released or record
        outcome = await self._store.cancel(ticket_id)
        if outcome == "final":
            raise Conflict(
                f"the ticket is {record.status.value}: there is nothing to cancel",
                state=record.public_state(),
            )
        log.info("ticket %s cancelled (%s)", ticket_id, outcome, extra={"ticket_id": ticket_id})
        await self._notify(record, TicketStatus.CANCELLED)
        if outcome == "dequeued":
            await self._dispatch_after_leaving(ticket_id)
        cancelled = await self._store.get(ticket_id)
        return cancelled or record

    async def result(self, ticket_id: str, principal: Principal | None) -> dict[str, Any]:
        """The ready ticket's parts and links; while it is preparing, the parts committed so far
        (``partial``); Conflict before the first."""
        record = await self.get(ticket_id, principal)
        committed = []
        if record.status is TicketStatus.PREPARING and record.build_id is not None:
            committed = await self._store.committed_parts(record.build_id)
        if record.status is not TicketStatus.READY and not committed:
            raise Conflict(f"the ticket is {record.status.value}, not ready", state=record.public_state())
        if committed:
            parts = [part.part for part in committed]
            links = [await run_in_threadpool(part_link, self._storage, part, record) for part in parts]
            return partial_result_body(record, committed, links)
        links = [await run_in_threadpool(part_link, self._storage, part, record) for part in record.parts]
        return result_body(record, links)


def created_log_fields(record: TicketRecord) -> dict[str, Any]:
    """What the log line of the request that made ``record`` says of it, beside its id: the
    first line of a ticket's life, from which its build id leads to the build's lines. (One line
    per POST, not a second one of its own: a log line is ~30 µs of a POST's ~700.)"""
    fields: dict[str, Any] = {"build_id": record.build_id} if record.build_id is not None else {}
    fields.update(
        kind="archive" if record.build_id is not None else "direct",
        ticket_status=record.status.value,
        files=record.file_count,
        source_bytes=record.total_size,
    )
    return fields


def _direct_part(manifest: Manifest) -> Part | None:
    """The part of a request for exactly one file: a link to the file itself."""
    if len(manifest.entries) != 1 or manifest.entries[0].source.is_dir:
        return None
    entry = manifest.entries[0]
    return Part(
        name=entry.name,
        key=entry.source.path,
        size=entry.source.size,
        sha256="",
        source_version=entry.source.version,
        source_version_id=entry.source.version_id,
    )
