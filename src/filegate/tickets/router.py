"""POST /download and the ticket endpoints: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from filegate.deps import (
    EventHubDep,
    PrincipalDep,
    RateLimiterDep,
    SettingsDep,
    TicketServiceDep,
    TicketStoreDep,
)
from filegate.tickets.events import follow_ticket
from filegate.tickets.schemas import DownloadRequest, TicketCreated

router = APIRouter(tags=["tickets"])

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to: events would arrive in bursts.
    "X-Accel-Buffering": "no",
}


@router.post("/download", status_code=202, response_model=TicketCreated)
async def create_download(
    request: Request,
    body: DownloadRequest,
    service: TicketServiceDep,
    principal: PrincipalDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Snapshot the selection and queue its archive; answers at once with a ticket."""
    await limiter.hit("download", principal.owner, settings.rate_downloads)
    record = await service.create(body, principal)
    request.state.ticket_id = record.ticket_id  # for the request's log line
    return {
        "ticket_id": record.ticket_id,
        "status": record.status.value,
        "status_url": f"/ticket/{record.ticket_id}/status",
        "result_url": f"/ticket/{record.ticket_id}/result",
        "expires_at": record.expires_at,
    }


def _wants_json(accept: str | None) -> bool:
    if not accept:
        return False
    return "application/json" in accept and "text/event-stream" not in accept


@router.get(
    "/ticket/{ticket_id}/status",
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
async def ticket_status(
    ticket_id: str,
    service: TicketServiceDep,
    principal: PrincipalDep,
    store: TicketStoreDep,
    hub: EventHubDep,
    settings: SettingsDep,
    accept: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """The ticket's life as Server-Sent Events; with ``Accept: application/json``, its state once."""
    record = await service.get(ticket_id, principal)
    if _wants_json(accept):
        return JSONResponse(record.public_state())
    stream = follow_ticket(store, hub, ticket_id, last_event_id, settings.sse_keepalive)
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


@router.delete("/ticket/{ticket_id}")
async def cancel_ticket(ticket_id: str, service: TicketServiceDep, principal: PrincipalDep) -> JSONResponse:
    """Cancel a queued or preparing ticket: 200 with its state; 409 once it is final."""
    record = await service.cancel(ticket_id, principal)
    return JSONResponse(record.public_state())


@router.get("/ticket/{ticket_id}/result")
async def ticket_result(ticket_id: str, service: TicketServiceDep, principal: PrincipalDep) -> JSONResponse:
    """The archive's parts with their links: 409 while not ready, 410 once expired."""
    result = await service.result(ticket_id, principal)
    return JSONResponse(result)
