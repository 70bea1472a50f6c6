"""Celery tasks of the archive domain: ids in, a service call, done."""

from __future__ import annotations

from celery import Task, shared_task

from filegate.archive.service import ArchiveService
from filegate.worker import worker_context


@shared_task(  # type: ignore[untyped-decorator]
    name="filegate.build_archive", bind=True, acks_late=True, reject_on_worker_lost=True
)
def build_archive(self: Task, ticket_id: str) -> str | None:
    context = worker_context(self.app)
    status = ArchiveService(context.tickets, context.storage).build(ticket_id)
    return status.value if status else None
