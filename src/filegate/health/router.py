"""GET /health: the API answers; GET /health/ready: Redis and storage answer too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from filegate.deps import StorageDep
from filegate.errors import FilegateError

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(request: Request, storage: StorageDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"unavailable: {exc}"
    try:
        await run_in_threadpool(storage.check)
        checks["storage"] = "ok"
    except FilegateError as exc:
        checks["storage"] = f"unavailable: {exc.detail}"
    healthy = all(value == "ok" for value in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": checks,
        # Reported, not a reason to leave the load balancer: without a valid licence, new
        # downloads are refused but existing tickets and links must still be served.
        "licence": request.app.state.licence.state().public(),
        "sse_listeners": request.app.state.event_hub.listener_count,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)
