"""create_app(): clients built once in the lifespan, the routers, one error handler."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from celery import Celery
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from filegate import __version__
from filegate.auth.limits import LoginThrottle, RateLimiter
from filegate.auth.router import router as auth_router
from filegate.auth.schemas import SECURITY_SCHEMES
from filegate.auth.service import AuthService
from filegate.auth.store import AuthStore
from filegate.body_limit import BodyLimitMiddleware
from filegate.browse.router import router as browse_router
from filegate.connections import async_redis, close_async_redis, sentinels_of
from filegate.contract.docs import router as docs_router
from filegate.contract.openapi import API_DESCRIPTION, build_openapi
from filegate.cors import FilegateCORS
from filegate.error_handlers import install_error_handlers
from filegate.health.checks import Readiness, startup_checks
from filegate.health.router import router as health_router
from filegate.licence.check import LicenceCheck
from filegate.licence.router import router as licence_router
from filegate.links.router import router as links_router
from filegate.logs import configure_logging
from filegate.metrics.http import HttpMetrics
from filegate.metrics.middleware import RequestLogMiddleware
from filegate.metrics.router import router as metrics_router
from filegate.scheduling.dispatcher import Admission
from filegate.settings import Settings, load_settings
from filegate.state.scripts import AsyncState
from filegate.state.states import TicketStatus
from filegate.storage import build_storage
from filegate.tickets.events import EventHub
from filegate.tickets.router import router as tickets_router
from filegate.tickets.service import TicketService
from filegate.tickets.store import TicketStore
from filegate.web.router import router as web_router
from filegate.worker import CLEANUP_QUEUE, SWEEP_TASK, create_celery_app, send_build, send_webhook

log = logging.getLogger(__name__)


class CeleryWorkQueue:
    def __init__(self, celery_app: Celery) -> None:
        self._celery = celery_app

    def send_build(self, admitted: Admission) -> None:
        send_build(self._celery, admitted, retry=True, retry_policy=_SEND_RETRY)

    def send_sweep(self) -> None:
        self._celery.send_task(SWEEP_TASK, queue=CLEANUP_QUEUE, retry=True, retry_policy=_SEND_RETRY)

    def send_webhook(self, ticket_id: str, status: TicketStatus) -> None:
        send_webhook(self._celery, ticket_id, status, retry=True, retry_policy=_SEND_RETRY)


_GC_YOUNG_THRESHOLD = 50_000

_SEND_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sentinels = sentinels_of(settings)
        client = async_redis(
            settings.redis_url, max_connections=settings.redis_max_connections, sentinels=sentinels
        )
        # The hub's XREAD blocks: its connection must not time out first.
        hub_client = async_redis(settings.redis_url, socket_timeout=None, sentinels=sentinels)
        storage = build_storage(settings)
        celery_app = create_celery_app(settings)
        # Refuses to start (naming what to fix) when a dependency stays unreachable.
        await run_in_threadpool(startup_checks, settings, storage, celery_app, "api")

        work = CeleryWorkQueue(celery_app)
        if settings.auth == "off":
            log.warning(
                "FILEGATE_AUTH=off: anyone who reaches this port can read every file and every "
                "ticket. Use it for experiments only."
            )
        state = AsyncState(client)
        limiter = RateLimiter(state)
        app.state.auth_service = AuthService(
            settings,
            AuthStore(state),
            LoginThrottle(state, settings.login_free_failures, settings.login_max_delay),
            limiter,
        )
        app.state.rate_limiter = limiter
        licence = LicenceCheck(settings)
        app.state.licence = licence
        app.state.readiness = Readiness(settings, client, storage, celery_app, licence)
        store = TicketStore(state, settings.expired_grace)
        hub = EventHub(hub_client)
        app.state.settings = settings
        app.state.redis = client
        app.state.storage = storage
        app.state.ticket_store = store
        app.state.event_hub = hub
        app.state.ticket_service = TicketService(settings, store, storage, work, licence)
        # What start-up made lives as long as the process: out of the collector's sight, full
        # collections stay short (with a thousand streams open they took 130-170 ms, which
        # every listener felt as latency).
        gc.freeze()
        # Young collections after 50,000 allocations instead of 700: full collections (each a
        # pause of a few hundred ms with 2,000 streams open) come about 70 times less often.
        gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            await hub.close()
            await state.aclose()
            await close_async_redis(client)
            await close_async_redis(hub_client)
            celery_app.close()

    app = FastAPI(
        title="filegate",
        version=__version__,
        summary="Turns a selection of files and folders into one prepared download.",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # Swagger UI from local files (contract/docs.py); ReDoc would need a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = functools.partial(build_openapi, app, SECURITY_SCHEMES)  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_request_body)
    if settings.cors_origins:
        # Outside the body limit, so its 413 carries CORS headers too and a page can read it.
        app.add_middleware(FilegateCORS, origins=settings.cors_origins)
    # Added last, so outermost: it sees every answer, the body limit's and the error handlers'.
    app.state.http_metrics = HttpMetrics()
    app.add_middleware(RequestLogMiddleware, metrics=app.state.http_metrics)
    install_error_handlers(app)
    app.include_router(tickets_router)
    app.include_router(browse_router)
    app.include_router(auth_router)
    app.include_router(licence_router)
    app.include_router(links_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(docs_router)
    app.include_router(web_router)
    return app
