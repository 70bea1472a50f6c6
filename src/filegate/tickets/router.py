"""POST /download, the ticket endpoints and the caller's ticket list: parse, call the service, shape."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from filegate.auth.capabilities import Capability, is_capability, sign_capability
from filegate.auth.principal import Principal
from filegate.auth.service import Unauthorized
from filegate.contract.responses import CALLER, CALLER_OR_LINK, errors, event_stream, security
from filegate.deps import (
    AuthServiceDep,
    DownloadCallerDep,
    EventHubDep,
    PrincipalDep,
    SettingsDep,
    TicketServiceDep,
    TicketStoreDep,
    get_principal,
)
from filegate.errors import Forbidden, Gone, InvalidRequest
from filegate.settings import Settings
from filegate.streaming import EventStreamResponse
from filegate.tickets.events import follow_feed, follow_ticket
from filegate.tickets.record import TicketRecord
from filegate.tickets.schemas import DownloadRequest, TicketCreated, TicketList, TicketResult, TicketState
from filegate.tickets.service import created_log_fields

router = APIRouter(tags=["tickets"])

# A Redis stream id ("<ms>-<seq>"); 19 digits stay below Redis's 64-bit limit.
_STREAM_ID = re.compile(r"^\d{1,19}(-\d{1,19})?$")

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to: events would arrive in bursts.
    "X-Accel-Buffering": "no",
}
Access = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The capability from status_url / result_url / events_url: replaces the "
        "Authorization header (a browser's EventSource cannot send one).",
    ),
]


def ticket_urls(settings: Settings, ticket_id: str) -> dict[str, str]:
    """Absolute status and result URLs that work as they are, with no header, until the ticket
    is forgotten: each shows that one view of that one ticket."""
    base, secret = settings.effective_public_url, settings.signing_secret
    status = sign_capability(secret, Capability.TICKET_STATUS, ticket_id)
    result = sign_capability(secret, Capability.TICKET_RESULT, ticket_id)
    return {
        "status_url": f"{base}/ticket/{ticket_id}/status?access={status}",
        "result_url": f"{base}/ticket/{ticket_id}/result?access={result}",
    }


async def _viewer(
    request: Request, settings: Settings, capability: Capability, ticket_id: str, access: str | None
) -> Principal | None:
    """None for the holder of a valid capability; else the authenticated caller."""
    if access is None:
        return await get_principal(request, request.headers.get("authorization"))
    if not is_capability(settings.signing_secret, capability, ticket_id, access):
        raise Forbidden("the link's signature is not valid", field="access")
    return None


_TICKET_LINKS = {
    name: {"operationId": operation, "parameters": {"ticket_id": "$response.body#/ticket_id"}}
    for name, operation in [
        ("ticket_state", "get_ticket_status"),
        ("ticket_result", "get_ticket_result"),
        ("cancel", "cancel_ticket"),
    ]
}


@router.post(
    "/download",
    status_code=202,
    response_model=TicketCreated,
    summary="Ask for a download",
    operation_id="create_download",
    openapi_extra=security(CALLER),
    responses={
        202: {
            "description": "The ticket: queued, joined to a build in flight, or ready at once.",
            "links": _TICKET_LINKS,
        },
        **errors(400, 401, 403, 404, 413, 422, 429, 503),
    },
)
async def create_download(
    request: Request,
    body: DownloadRequest,
    service: TicketServiceDep,
    principal: DownloadCallerDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Snapshot the selection and queue its archive; answers at once with a ticket."""
    record = await service.create(body, principal)
    request.state.ticket_id = record.ticket_id  # for the request's log line, with:
    request.state.log_fields = created_log_fields(record)
    return {
        "ticket_id": record.ticket_id,
        "status": record.status.value,
        "name": record.options.name,
        "file_count": record.file_count,
        "total_size": record.total_size,
        "created_at": record.created_at,
        **ticket_urls(settings, record.ticket_id),
        "expires_at": record.expires_at,
    }


def _wants_json(accept: str | None) -> bool:
    if not accept:
        return False
    return "application/json" in accept and "text/event-stream" not in accept


@router.get(
    "/ticket/{ticket_id}/status",
    response_model=TicketState,
    summary="Follow a ticket (Server-Sent Events) or read its state (JSON)",
    operation_id="get_ticket_status",
    openapi_extra=security(CALLER_OR_LINK),
    responses={
        200: event_stream(
            "With `Accept: application/json`, the state once; else an event stream "
            "(`status`, `position`, `progress` events) that ends after a final state."
        ),
        204: {"description": "Last-Event-ID was the final event: nothing more will come."},
        **errors(401, 403, 404, 410, 422, 503),
    },
)
async def ticket_status(
    request: Request,
    ticket_id: str,
    service: TicketServiceDep,
    store: TicketStoreDep,
    hub: EventHubDep,
    settings: SettingsDep,
    access: Access = None,
    accept: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """The ticket's life as Server-Sent Events; with ``Accept: application/json``, its state once."""
    viewer = await _viewer(request, settings, Capability.TICKET_STATUS, ticket_id, access)
    record = await service.get(ticket_id, viewer)
    if _wants_json(accept):
        return JSONResponse(record.public_state())
    # A Last-Event-ID that is no event id of ours (a proxy's, a client's bug) replays everything.
    resume_after = _stream_id_or_none(last_event_id)
    if (
        resume_after is not None
        and record.status.is_final
        and not await store.events_after(ticket_id, resume_after, count=1)
    ):
        # The client has seen the end: 204 tells a browser's EventSource to stop reconnecting.
        return Response(status_code=204)
    stream = follow_ticket(store, hub, ticket_id, resume_after, settings.sse_keepalive)
    return EventStreamResponse(stream, headers=SSE_HEADERS)


@router.delete(
    "/ticket/{ticket_id}",
    response_model=TicketState,
    summary="Cancel a ticket",
    operation_id="cancel_ticket",
    openapi_extra=security(CALLER),
    responses=errors(401, 403, 404, 409, 410, 422, 503),
)
async def cancel_ticket(ticket_id: str, service: TicketServiceDep, principal: PrincipalDep) -> JSONResponse:
    """Cancel a queued or preparing ticket: 200 with its state; 409 once it is final."""
    record = await service.cancel(ticket_id, principal)
    return JSONResponse(record.public_state())


@router.get(
    "/ticket/{ticket_id}/result",
    response_model=TicketResult,
    summary="The archive's parts and their links",
    operation_id="get_ticket_result",
    openapi_extra=security(CALLER_OR_LINK),
    responses=errors(401, 403, 404, 409, 410, 422, 503),
)
async def ticket_result(
    request: Request, ticket_id: str, service: TicketServiceDep, settings: SettingsDep, access: Access = None
) -> JSONResponse:
    """The archive's parts with their links: once ready, or while preparing once its first part is
    committed (`partial: true`, the other parts `pending`); 409 before that, 410 once expired."""
    viewer = await _viewer(request, settings, Capability.TICKET_RESULT, ticket_id, access)
    result = await service.result(ticket_id, viewer)
    return JSONResponse(result)


def _listed(record: TicketRecord, settings: Settings) -> dict[str, Any]:
    return {**record.public_state(), **ticket_urls(settings, record.ticket_id)}


@router.get(
    "/tickets",
    response_model=TicketList,
    summary="The caller's tickets",
    operation_id="list_tickets",
    openapi_extra=security(CALLER),
    responses=errors(401, 403, 422, 503),
)
async def list_tickets(
    principal: PrincipalDep,
    store: TicketStoreDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many, newest first.")] = 50,
) -> dict[str, Any]:
    """The caller's tickets that have not expired, newest first, with the URL of one event stream
    that follows them all (``events_url``, to be opened with ``after=events_cursor``)."""
    cursor = await store.feed_last_id(principal.owner)  # first: no event after the states is missed
    records = await store.owned(principal.owner, limit)
    expires = int(time.time()) + settings.session_lifetime
    access = sign_capability(settings.signing_secret, Capability.OWNER_EVENTS, principal.owner, expires)
    query = f"owner={principal.owner}&expires={expires}&access={access}"
    return {
        "tickets": [_listed(record, settings) for record in records],
        "events_url": f"{settings.effective_public_url}/tickets/events?{query}",
        "events_cursor": cursor,
    }


@router.get(
    "/tickets/events",
    summary="Every event of the caller's tickets (Server-Sent Events)",
    operation_id="follow_ticket_events",
    openapi_extra=security(CALLER_OR_LINK),
    responses={
        200: event_stream("One event stream, each event naming its ticket; it does not end by itself."),
        **errors(401, 403, 410, 422, 503),
    },
)
async def ticket_events(
    request: Request,
    store: TicketStoreDep,
    hub: EventHubDep,
    auth: AuthServiceDep,
    settings: SettingsDep,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    expires: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    access: Access = None,
    after: Annotated[str | None, Query(max_length=40, pattern=_STREAM_ID.pattern)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStreamResponse:
    """Every event of all the caller's tickets as one Server-Sent Events stream, each naming its
    ticket; resumes after ``Last-Event-ID`` (else after ``after``, else from now on)."""
    if access is not None:
        if owner is None or expires is None:
            raise InvalidRequest("an events URL carries owner, expires and access together", field="access")
        if not is_capability(settings.signing_secret, Capability.OWNER_EVENTS, owner, access, expires):
            raise Forbidden("the link's signature is not valid", field="access")
        if time.time() >= expires:
            raise Gone("this events URL has expired: ask GET /tickets for a new one", expired_at=expires)
        followed_owner = owner

        async def is_still_allowed() -> bool:
            return time.time() < expires
    else:
        authorization = request.headers.get("authorization")
        followed_owner = (await get_principal(request, authorization)).owner

        async def is_still_allowed() -> bool:
            try:
                await get_principal(request, authorization)
            except Unauthorized:
                return False
            return True

    resume_from = _stream_id_or_none(last_event_id) or after
    stream = follow_feed(store, hub, followed_owner, resume_from, settings.sse_keepalive, is_still_allowed)
    return EventStreamResponse(stream, headers=SSE_HEADERS)


def _stream_id_or_none(text: str | None) -> str | None:
    """A Last-Event-ID the feed can resume after; anything else is ignored."""
    if text is None or not _STREAM_ID.fullmatch(text.strip()):
        return None
    return text.strip()
