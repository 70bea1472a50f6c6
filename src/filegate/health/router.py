"""GET /health: the process answers; GET /health/ready: what it depends on answers too."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from filegate.contract.responses import PUBLIC, security
from filegate.health.schemas import Alive, Readiness

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Alive,
    summary="Liveness: the process answers",
    operation_id="get_health",
    openapi_extra=security(PUBLIC),
)
async def health() -> dict[str, str]:
    """Liveness: the API process answers."""
    return {"status": "ok"}


@router.get(
    "/health/ready",
    response_model=Readiness,
    response_model_exclude_unset=True,
    summary="Readiness: what the API depends on answers",
    operation_id="get_readiness",
    openapi_extra=security(PUBLIC),
    responses={503: {"model": Readiness, "description": "Not ready: `failing` names each failing check."}},
)
async def ready(request: Request) -> JSONResponse:
    """Readiness: Redis, the broker, the source and output stores, a worker on each queue and
    room for builds; 503 naming each failing one. Checked at most every two seconds."""
    checks = await request.app.state.readiness.checks()
    healthy = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: check.to_json() for name, check in checks.items()},
        "failing": sorted(name for name, check in checks.items() if not check.ok),
        # Reported, not a reason to leave the load balancer: without a valid licence, new
        # downloads are refused but existing tickets and links must still be served.
        "licence": request.app.state.licence.state().public(),
        "sse_listeners": request.app.state.event_hub.listener_count,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)
