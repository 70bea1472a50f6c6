"""filegate's services built as app.py and worker.py build them, on a local store in a test's
own folder and the real Redis, with no Celery and no HTTP: what would go to the workers is
recorded instead of sent."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from filegate.archive.crc_cache import CrcCache
from filegate.archive.registry import BuildRegistry
from filegate.archive.service import ArchiveService
from filegate.auth.principal import ANONYMOUS, Principal
from filegate.connections import async_redis, sync_redis
from filegate.expiry.service import ExpiryService
from filegate.licence.check import LicenceCheck
from filegate.metrics.cluster import BuildMetrics
from filegate.scheduling.dispatcher import Admission
from filegate.scheduling.service import Scheduler
from filegate.settings import Settings
from filegate.state import keys
from filegate.state.scripts import AsyncState, SyncState
from filegate.state.states import BuildStatus, TicketStatus
from filegate.storage import build_storage
from filegate.storage.local import LocalStorage
from filegate.tickets.record import TicketRecord
from filegate.tickets.schemas import DownloadRequest
from filegate.tickets.service import TicketService
from filegate.tickets.store import Event, TicketStore
from filegate.webhooks.notify import WebhookNotifier


class BrokerDown(ConnectionError):
    """What a send to an unreachable broker raises."""


@dataclass
class RecordingWorkQueue:
    """The API's work queue (CeleryWorkQueue in app.py), recording each send; with
    ``is_down`` every build send fails as an unreachable broker's would."""

    builds: list[Admission] = field(default_factory=list)
    sweeps: int = 0
    webhooks: list[tuple[str, TicketStatus]] = field(default_factory=list)
    is_down: bool = False

    def send_build(self, admitted: Admission) -> None:
        if self.is_down:
            raise BrokerDown("the broker does not answer")
        self.builds.append(admitted)

    def send_sweep(self) -> None:
        self.sweeps += 1

    def send_webhook(self, ticket_id: str, status: TicketStatus) -> None:
        self.webhooks.append((ticket_id, status))


@dataclass
class RecordingSender:
    """The worker's send of an admitted build (worker.send_build), recorded."""

    sent: list[Admission] = field(default_factory=list)
    is_down: bool = False

    def __call__(self, admitted: Admission) -> None:
        if self.is_down:
            raise BrokerDown("the broker does not answer")
        self.sent.append(admitted)


@dataclass
class Services:
    """The API's side (``tickets``) and a worker's (``archive``, ``scheduler``, ``expiry``) on one
    Redis database and one local store."""

    settings: Settings
    files: Path
    storage: LocalStorage
    redis: redis.Redis
    """A synchronous client on the same database, to look at what the services left there."""
    async_redis: aioredis.Redis
    async_state: AsyncState
    tickets: TicketService
    store: TicketStore
    work: RecordingWorkQueue
    builds: BuildRegistry
    archive: ArchiveService
    scheduler: Scheduler
    sender: RecordingSender
    expiry: ExpiryService
    webhooks: list[tuple[str, TicketStatus]]
    """The webhooks a worker's services queued (the API's are in ``work.webhooks``)."""

    def put(self, path: str, data: bytes) -> None:
        """A source file at ``path`` below the store's root."""
        target = self.files / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def put_random(self, path: str, size: int) -> bytes:
        data = os.urandom(size)
        self.put(path, data)
        return data

    async def request(
        self, paths: list[str], principal: Principal = ANONYMOUS, **fields: Any
    ) -> TicketRecord:
        """What POST /download does once its caller is known."""
        return await self.tickets.create(DownloadRequest(paths=paths, **fields), principal)

    async def ticket(self, ticket_id: str) -> TicketRecord:
        record = await self.store.get(ticket_id)
        assert record is not None, f"no ticket {ticket_id}"
        return record

    async def events(self, ticket_id: str) -> list[Event]:
        return await self.store.events_after(ticket_id, "0")

    def build_id(self, record: TicketRecord) -> str:
        assert record.build_id is not None, f"ticket {record.ticket_id} holds no build"
        return record.build_id

    def run_build(self, build_id: str) -> BuildStatus | None:
        """What the build task does (archive/tasks.py): build, then give the slot back and admit."""
        status = self.archive.build(build_id)
        self.scheduler.finish(build_id)
        return status

    def build_field(self, build_id: str, name: str) -> str | None:
        value: str | None = self.redis.hget(keys.build(build_id), name)
        return value

    def running(self) -> set[str]:
        members: set[str] = self.redis.smembers(keys.RUNNING)
        return members

    def queued(self) -> list[str]:
        """Waiting builds, in the order they are to be admitted."""
        members: list[str] = self.redis.zrange(keys.QUEUE, 0, -1)
        return members

    def space(self) -> tuple[int, int]:
        """(held, reserved) bytes."""
        held, reserved = self.redis.mget(keys.SPACE_HELD, keys.SPACE_RESERVED)
        return int(held or 0), int(reserved or 0)

    def stored(self, build_id: str) -> list[str]:
        """The files under the build's folder in the output store, partial ones included."""
        folder = self.storage.output_dir / build_id
        return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []

    async def close(self) -> None:
        """As app.py's lifespan ends: the scripts' own connection, then the clients."""
        await self.async_state.aclose()
        await self.async_redis.aclose()
        self.redis.close()


async def wait_until(moment: datetime) -> None:
    """Until just past ``moment`` (a ticket's expiry, say)."""
    await asyncio.sleep(max(0.0, moment.timestamp() - time.time()) + 0.05)


async def next_arrival() -> None:
    """Past the current millisecond: the queue orders arrivals by the millisecond (builds that
    arrive in the same one go by build id), so requests a test wants in order are made apart."""
    await asyncio.sleep(0.002)


def settings_for(redis_url: str, home: Path, **overrides: Any) -> Settings:
    """Settings of one test: its Redis database and folders, no .env read; sizes small enough
    that a few kilobytes can be split, and a fixed space budget (``auto`` would measure the disk)."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "local_root": home / "files",
        "output_dir": home / "archives",
        "signing_secret": "test-signing-secret",
        "min_split_size": "1KB",
        "progress_interval_ms": 10,
        "space_budget": "1GB",
        "max_concurrent_builds": 2,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def wire(settings: Settings) -> Services:
    """The services, each built as app.py's lifespan and worker.worker_context build them."""
    settings.local_root.mkdir(parents=True, exist_ok=True)
    storage = build_storage(settings)
    assert isinstance(storage, LocalStorage)
    storage.prepare()
    # The API's side.
    client = async_redis(settings.redis_url, max_connections=settings.redis_max_connections)
    state = AsyncState(client)
    store = TicketStore(state, settings.expired_grace)
    work = RecordingWorkQueue()
    tickets = TicketService(settings, store, storage, work, LicenceCheck(settings))
    # A worker's side.
    sync_client = sync_redis(settings.redis_url)
    builds = BuildRegistry(SyncState(sync_client))
    sender = RecordingSender()
    queued_webhooks: list[tuple[str, TicketStatus]] = []
    webhooks = WebhookNotifier(builds, lambda ticket_id, status: queued_webhooks.append((ticket_id, status)))
    return Services(
        settings=settings,
        files=settings.local_root,
        storage=storage,
        redis=sync_client,
        async_redis=client,
        async_state=state,
        tickets=tickets,
        store=store,
        work=work,
        builds=builds,
        archive=ArchiveService(
            builds,
            storage,
            settings.progress_interval_ms,
            settings.build_lease,
            BuildMetrics(sync_client),
            webhooks.build_reached,
            CrcCache(sync_client, settings.crc_cache_ttl),
        ),
        scheduler=Scheduler(builds, settings, LicenceCheck(settings), sender, webhooks.build_reached),
        sender=sender,
        # As expiry/tasks.py: a partial output older than the longest build belongs to none.
        expiry=ExpiryService(builds, storage, settings.build_timeout, webhooks.build_reached),
        webhooks=queued_webhooks,
    )
