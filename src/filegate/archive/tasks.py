"""Celery tasks of the archive domain: ids in, a service call, done."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from filegate.archive.crc_cache import CrcCache
from filegate.archive.registry import BuildTakenOver
from filegate.archive.service import TRANSIENT_ERRORS, ArchiveService, BuildHeldElsewhere
from filegate.metrics.cluster import BuildMetrics
from filegate.worker import worker_context

MAX_RETRIES = 5
log = logging.getLogger(__name__)


@shared_task(  # type: ignore[untyped-decorator]
    name="filegate.build_archive", bind=True, acks_late=True, reject_on_worker_lost=True
)
def build_archive(self: Task, build_id: str) -> str | None:
    context = worker_context(self.app)
    settings = context.settings
    service = ArchiveService(
        context.builds,
        context.storage,
        settings.progress_interval_ms,
        settings.build_lease,
        BuildMetrics(context.redis),
        context.webhooks.build_reached,
        CrcCache(context.redis, settings.crc_cache_ttl),
    )
    try:
        status = service.build(build_id)
    except BuildHeldElsewhere as exc:
        log.info("build %s is being built by another worker (%s): this delivery leaves it", build_id, exc)
        return None
    except BuildTakenOver:
        # The slot, the parts and the end of the build are the other worker's now.
        log.info("build %s goes on in another worker; this one stopped", build_id)
        return None
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < MAX_RETRIES:
            # The build keeps its slot while it waits to be tried again.
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
        status = service.fail(build_id, f"storage or Redis stayed unreachable: {exc}")
    context.scheduler.finish(build_id)
    return status.value if status else None
