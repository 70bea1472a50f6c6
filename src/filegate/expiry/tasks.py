"""Celery tasks of the expiry domain, on the cleanup queue."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from filegate.expiry.schedule import claim_sweep
from filegate.expiry.service import ExpiryService
from filegate.worker import CLEANUP_QUEUE, DELETE_TASK, worker_context

log = logging.getLogger(__name__)


def _service(task: Task) -> ExpiryService:
    context = worker_context(task.app)
    # A partial output older than the longest build belongs to no running build.
    return ExpiryService(
        context.builds, context.storage, context.settings.build_timeout, context.webhooks.build_reached
    )


@shared_task(name="filegate.sweep", bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
def sweep(self: Task, scheduled: bool = False) -> int | None:
    """A sweep; a ``scheduled`` one runs once an interval, however many workers (and beats)
    offer it, and the others return None. One asked for (by a release) always runs."""
    if scheduled:
        context = worker_context(self.app)
        slot = claim_sweep(context.redis, context.settings.sweep_interval)
        if slot is None:
            return None
        log.info("sweep of interval %d", slot, extra={"sweep_interval": slot})
    handed = _service(self).sweep(
        lambda build_id: self.app.send_task(DELETE_TASK, args=[build_id], queue=CLEANUP_QUEUE)
    )
    # A safety net: builds whose worker died are queued again, and whatever a lost
    # message or a crash left waiting is admitted here.
    scheduler = worker_context(self.app).scheduler
    scheduler.reclaim()
    scheduler.admit(every_position=True)
    return handed


@shared_task(  # type: ignore[untyped-decorator]
    name=DELETE_TASK, bind=True, acks_late=True, max_retries=5, default_retry_delay=30
)
def delete_build(self: Task, build_id: str) -> None:
    try:
        _service(self).delete(build_id)
    except Exception as exc:
        raise self.retry(exc=exc) from exc
    # The space it held is free again: builds waiting for space may fit now.
    worker_context(self.app).scheduler.admit()
