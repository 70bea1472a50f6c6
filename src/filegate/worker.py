"""The Celery app: queues, long-task settings, and the clients each worker process builds once.

``celery -A filegate.worker worker -Q downloads`` finds ``app`` here; it is
made on first access from the settings (PEP 562), so importing this module
reads no environment and opens no connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery, signals
from kombu import Exchange, Queue

from filegate.archive.registry import BuildRegistry
from filegate.connections import sentinels_of, sync_redis
from filegate.expiry.schedule import SweepOffers
from filegate.health.checks import startup_checks
from filegate.licence.check import LicenceCheck
from filegate.logs import JsonFormatter
from filegate.scheduling.dispatcher import Admission
from filegate.scheduling.priority import message_priority, queue_arguments, transport_options
from filegate.scheduling.service import Scheduler
from filegate.settings import Settings, load_settings
from filegate.state.scripts import SyncState
from filegate.state.states import TicketStatus
from filegate.storage import Storage, build_storage
from filegate.webhooks.notify import WebhookNotifier

DOWNLOADS_QUEUE = "downloads"
CLEANUP_QUEUE = "cleanup"
BUILD_TASK = "filegate.build_archive"
SWEEP_TASK = "filegate.sweep"
DELETE_TASK = "filegate.delete_build"
WEBHOOK_TASK = "filegate.deliver_webhook"


def create_celery_app(settings: Settings) -> Celery:
    tasks = ["filegate.archive.tasks", "filegate.expiry.tasks", "filegate.webhooks.tasks"]
    app = Celery("filegate", include=tasks)
    broker = settings.effective_broker_url
    backend = settings.redis_url
    sentinel_options: dict[str, Any] = {}
    sentinels = sentinels_of(settings)
    if sentinels is not None:
        # kombu's and Celery's sentinel:// transport asks the sentinels for the primary too.
        backend = sentinels.celery_url(settings.redis_url)
        sentinel_options = {"master_name": sentinels.master}
        app.conf.result_backend_transport_options = sentinel_options
        if not settings.broker_url:
            broker = backend
    app.conf.update(
        broker_url=broker,
        result_backend=backend,
        task_ignore_result=True,
        task_default_queue=DOWNLOADS_QUEUE,
        # Builds carry a message priority (see scheduling/priority.py); deletes do not need one.
        task_queues=[
            Queue(
                DOWNLOADS_QUEUE,
                Exchange(DOWNLOADS_QUEUE),
                routing_key=DOWNLOADS_QUEUE,
                queue_arguments=queue_arguments(broker),
            ),
            # Its own exchange: bound to the default one, it would also get what goes to downloads.
            Queue(CLEANUP_QUEUE, Exchange(CLEANUP_QUEUE), routing_key=CLEANUP_QUEUE),
        ],
        # Deletes have their own queue and worker: they never wait behind builds.
        task_routes={
            BUILD_TASK: {"queue": DOWNLOADS_QUEUE},
            SWEEP_TASK: {"queue": CLEANUP_QUEUE},
            DELETE_TASK: {"queue": CLEANUP_QUEUE},
            # Low priority beside builds, and a slow receiver holds no build slot.
            WEBHOOK_TASK: {"queue": CLEANUP_QUEUE},
        },
        beat_schedule={
            "sweep-expired-archives": {
                "task": SWEEP_TASK,
                "schedule": float(settings.sweep_interval),
                "kwargs": {"scheduled": True},
                "options": {"queue": CLEANUP_QUEUE, "expires": float(settings.sweep_interval)},
            }
        },
        # A build is acknowledged only when it ends, so a worker that dies
        # mid-build leaves its message to be delivered again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # The Redis transport redelivers a message that is not acknowledged
        # within the visibility timeout: it must outlast the longest build,
        # or a long build would start a second time while still running.
        broker_transport_options={
            "visibility_timeout": settings.build_timeout + 600,
            **transport_options(broker),
            **(sentinel_options if broker == backend else {}),
        },
        broker_connection_retry_on_startup=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    app.filegate_settings = settings
    return app


def _check_dependencies(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """Before consuming anything: Redis, the broker and the stores answer, or the worker stops."""
    app = getattr(instance, "app", None)
    settings: Settings | None = getattr(app, "filegate_settings", None)
    if app is None or settings is None:
        return
    startup_checks(settings, build_storage(settings), app, "worker")


def _log_format(logger: logging.Logger, **_: Any) -> None:
    """The worker's log lines in FILEGATE_LOG_FORMAT, at FILEGATE_LOG_LEVEL for filegate's own."""
    settings = load_settings()
    if settings.log_format == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
    logging.getLogger("filegate").setLevel(settings.log_level.upper())


def _offer_sweeps(sender: Any = None, **_: Any) -> None:
    """A worker of the cleanup queue offers the sweep every interval: no single beat needed."""
    app = getattr(sender, "app", None)
    settings: Settings | None = getattr(app, "filegate_settings", None)
    if app is None or settings is None or CLEANUP_QUEUE not in app.amqp.queues.consume_from:
        return
    interval = settings.sweep_interval

    def offer() -> None:
        app.send_task(SWEEP_TASK, kwargs={"scheduled": True}, queue=CLEANUP_QUEUE, expires=float(interval))

    offers = SweepOffers(interval, offer)
    offers.start()
    app.filegate_sweep_offers = offers


def _stop_offering(sender: Any = None, **_: Any) -> None:
    offers: SweepOffers | None = getattr(getattr(sender, "app", None), "filegate_sweep_offers", None)
    if offers is not None:
        offers.stop()


signals.celeryd_after_setup.connect(_check_dependencies, weak=False, dispatch_uid="filegate-startup-checks")
signals.worker_ready.connect(_offer_sweeps, weak=False, dispatch_uid="filegate-sweep-offers")
signals.worker_shutdown.connect(_stop_offering, weak=False, dispatch_uid="filegate-sweep-offers-stop")
signals.after_setup_logger.connect(_log_format, weak=False, dispatch_uid="filegate-log-format")
signals.after_setup_task_logger.connect(_log_format, weak=False, dispatch_uid="filegate-task-log-format")


def send_build(app: Celery, admitted: Admission, **options: Any) -> None:
    """Send an admitted build to the downloads queue at its priority."""
    app.send_task(
        BUILD_TASK,
        args=[admitted.build_id],
        queue=DOWNLOADS_QUEUE,
        priority=message_priority(admitted.priority, app.conf.broker_url),
        **options,
    )


def send_webhook(app: Celery, ticket_id: str, status: TicketStatus, **options: Any) -> None:
    """Queue the delivery of the ticket's webhook for ``status`` (webhooks/tasks.py)."""
    app.send_task(WEBHOOK_TASK, args=[ticket_id, status.value], queue=CLEANUP_QUEUE, **options)


@dataclass(frozen=True, slots=True)
class WorkerContext:
    settings: Settings
    redis: redis.Redis
    storage: Storage
    builds: BuildRegistry
    scheduler: Scheduler
    webhooks: WebhookNotifier


def worker_context(app: Celery) -> WorkerContext:
    """This process's clients, built on first use (after the pool has forked)."""
    context: WorkerContext | None = getattr(app, "filegate_context", None)
    if context is None:
        settings: Settings = getattr(app, "filegate_settings", None) or load_settings()
        client = sync_redis(settings.redis_url, sentinels_of(settings))
        storage = build_storage(settings)
        storage.prepare()
        builds = BuildRegistry(SyncState(client))
        webhooks = WebhookNotifier(builds, lambda ticket_id, status: send_webhook(app, ticket_id, status))
        context = WorkerContext(
            settings=settings,
            redis=client,
            storage=storage,
            builds=builds,
            scheduler=Scheduler(
                builds,
                settings,
                LicenceCheck(settings),
                lambda admitted: send_build(app, admitted),
                webhooks.build_reached,
            ),
            webhooks=webhooks,
        )
        app.filegate_context = context
    return context


def __getattr__(name: str) -> Any:
    if name == "app":
        app = create_celery_app(load_settings())
        globals()["app"] = app
        return app
    raise AttributeError(name)
