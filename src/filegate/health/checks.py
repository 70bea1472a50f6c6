"""What filegate depends on, checked: for /health/ready (cached briefly, so load balancers
may poll it) and at start-up (where a required dependency that stays unreachable stops
the process with a line saying what to fix)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from celery import Celery
from starlette.concurrency import run_in_threadpool

from filegate.connections import primary_answers, sentinels_of
from filegate.errors import FilegateError
from filegate.licence.check import LicenceCheck
from filegate.settings import Settings, StorageKind
from filegate.state.keys import SPACE_HELD as HELD
from filegate.state.keys import SPACE_RESERVED as RESERVED
from filegate.storage.base import Storage

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0
PING_TIMEOUT = 1.0
CACHE_SECONDS = 2.0
QUEUES = ("downloads", "cleanup")


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


def _problem(exc: BaseException) -> str:
    if isinstance(exc, FilegateError):
        return exc.detail
    return str(exc) or type(exc).__name__


def broker_answers(celery_app: Celery) -> str:
    """Connect to the broker once; raises when it cannot be reached."""
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=PING_TIMEOUT)
        return f"{connection.transport_cls} at {connection.hostname}:{connection.port}"


def workers_by_queue(celery_app: Celery) -> dict[str, list[str]]:
    """The workers that answered a broadcast within a second, by the queues they consume."""
    replies = celery_app.control.inspect(timeout=PING_TIMEOUT).active_queues() or {}
    found: dict[str, list[str]] = {queue: [] for queue in QUEUES}
    for worker, queues in replies.items():
        for queue in queues or []:
            found.setdefault(queue["name"], []).append(worker)
    return found


def space_check(settings: Settings, held: int, reserved: int) -> Check:
    """Room for builds: with a fixed budget, what is held and reserved against it; with auto,
    the output folder's free space against the reserve."""
    used = held + reserved
    if settings.space_budget is not None:
        room = settings.space_budget - used
        detail = f"{used} of {settings.space_budget} bytes of the budget in use"
        return Check(room > 0, detail if room > 0 else f"the space budget is full: {detail}")
    if settings.storage is StorageKind.LOCAL:
        free = shutil.disk_usage(settings.output_dir).free
        detail = f"{free} bytes free on the output file system, {settings.space_reserve} kept in reserve"
        ok = free > settings.space_reserve
        return Check(ok, detail if ok else f"the output file system is full: {detail}")
    return Check(True, "no budget: the object store's space is not limited here")


class Readiness:
    """The dependency checks of /health/ready, run at most once per CACHE_SECONDS."""

    def __init__(
        self,
        settings: Settings,
        client: aioredis.Redis,
        storage: Storage,
        celery_app: Celery,
        licence: LicenceCheck,
    ) -> None:
        self._settings = settings
        self._redis = client
        self._storage = storage
        self._celery = celery_app
        self._licence = licence
        self._lock = asyncio.Lock()
        self._cached: tuple[float, dict[str, Check]] | None = None

    async def checks(self) -> dict[str, Check]:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > CACHE_SECONDS:
                self._cached = (time.monotonic(), await self._run())
            return self._cached[1]

    async def _run(self) -> dict[str, Check]:
        names = ["redis", "broker", "source_store", "output_store", "workers", "space"]
        results = await asyncio.gather(
            self._timed(self._ping_redis),
            self._timed_sync(lambda: broker_answers(self._celery)),
            self._timed_sync(lambda: self._storage.check_sources() or "readable"),
            self._timed_sync(lambda: self._storage.check_output() or "writable"),
            self._timed_sync(self._workers),
            self._timed(self._space),
        )
        return dict(zip(names, results, strict=True))

    async def _space(self) -> Check:
        held, reserved = await self._redis.mget(HELD, RESERVED)
        return await run_in_threadpool(space_check, self._settings, int(held or 0), int(reserved or 0))

    async def _ping_redis(self) -> str:
        await self._redis.ping()
        if self._settings.redis_sentinels:
            return f"the primary {self._settings.redis_sentinel_master!r} answers (found by the sentinels)"
        return f"answers at {self._settings.redis_url.rsplit('@', 1)[-1]}"

    def _workers(self) -> Check:
        found = workers_by_queue(self._celery)
        missing = [queue for queue in QUEUES if not found.get(queue)]
        counts = ", ".join(f"{queue}: {len(found.get(queue, []))}" for queue in QUEUES)
        if missing:
            queues = " and ".join(missing) + (" queues" if len(missing) > 1 else " queue")
            return Check(False, f"no worker answers on the {queues} ({counts})")
        return Check(True, f"workers answering per queue: {counts}")

    async def _timed(self, call: Callable[[], Awaitable[Any]]) -> Check:
        try:
            outcome = await asyncio.wait_for(call(), CHECK_TIMEOUT)
        except TimeoutError:
            return Check(False, f"unavailable: no answer within {CHECK_TIMEOUT:.0f} s")
        except Exception as exc:
            return Check(False, f"unavailable: {_problem(exc)}")
        return outcome if isinstance(outcome, Check) else Check(True, str(outcome))

    async def _timed_sync(self, call: Callable[[], Any]) -> Check:
        async def run() -> Any:
            return await run_in_threadpool(call)

        return await self._timed(run)


def wait_for_dependencies(
    checks: dict[str, tuple[Callable[[], object], str]], process: str, attempts: int = 5, pause: float = 1.0
) -> None:
    """Run each start-up check (name → check, what to do when it fails), retrying a failing
    one a few times; log a line per dependency, and stop the process (SystemExit) naming what
    to fix when one stays unreachable."""
    for name, (check, fix) in checks.items():
        for attempt in range(1, attempts + 1):
            try:
                detail = check()
            except Exception as exc:
                if attempt == attempts:
                    problem = f"{name} is unreachable ({_problem(exc).rstrip('.')}): {fix}"
                    log.critical("%s cannot start: %s", process, problem, extra={"dependency": name})
                    raise SystemExit(f"filegate {process}: {problem}") from None
                time.sleep(pause)
            else:
                log.info("%s: %s ok (%s)", process, name, detail or "answers", extra={"dependency": name})
                break


def startup_checks(settings: Settings, storage: Storage, celery_app: Celery, process: str) -> None:
    """Wait briefly for Redis, the broker and the stores; stop ``process`` if one stays away."""

    def output_store() -> str:
        storage.prepare()
        storage.check_output()
        return "writable"

    def source_store() -> str:
        storage.check_sources()
        return "readable"

    where = settings.local_root if settings.storage is StorageKind.LOCAL else settings.s3_endpoint
    wait_for_dependencies(
        {
            "Redis": (
                lambda: primary_answers(
                    settings.redis_url,
                    sentinels_of(settings),
                    CHECK_TIMEOUT,
                ),
                "start Redis or set FILEGATE_REDIS_URL to where it runs",
            ),
            "the broker": (
                lambda: broker_answers(celery_app),
                "start the broker or set FILEGATE_BROKER_URL (empty: FILEGATE_REDIS_URL)",
            ),
            "the source store": (
                source_store,
                f"check {where} (FILEGATE_STORAGE={settings.storage.value}, FILEGATE_LOCAL_ROOT or "
                "FILEGATE_S3_* and the source bucket)",
            ),
            "the output store": (
                output_store,
                "check FILEGATE_OUTPUT_DIR (local) or FILEGATE_S3_* and the output bucket (S3)",
            ),
        },
        process,
    )
