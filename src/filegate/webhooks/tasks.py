"""Celery task of the webhooks domain, on the cleanup queue: one attempt, then a retry or the end."""

from __future__ import annotations

import time

from celery import Task, shared_task

from filegate.metrics.cluster import WebhookMetrics
from filegate.state.states import TicketStatus
from filegate.webhooks.service import RETRIED, WebhookService, longest_retry_delay, retry_delay
from filegate.worker import WEBHOOK_TASK, worker_context


@shared_task(name=WEBHOOK_TASK, bind=True, acks_late=True, ignore_result=True, max_retries=None)  # type: ignore[untyped-decorator]
def deliver_webhook(self: Task, ticket_id: str, status: str, first_attempt_at: float | None = None) -> str:
    context = worker_context(self.app)
    settings = context.settings
    started = first_attempt_at or time.time()
    service = WebhookService(context.redis, context.storage, settings, WebhookMetrics(context.redis))
    reached = TicketStatus(status)
    answer = service.attempt(ticket_id, reached, self.request.retries + 1)
    if answer.outcome not in RETRIED:
        return answer.outcome
    longest = longest_retry_delay(settings.build_timeout)
    delay = retry_delay(settings.webhook_retry_delay, self.request.retries, longest)
    if time.time() + delay - started > settings.webhook_retry_for:
        service.abandon(ticket_id, reached, self.request.retries + 1)
        return "abandoned"
    raise self.retry(args=[ticket_id, status, started], countdown=delay)
