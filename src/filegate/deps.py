"""Annotated dependencies: what a route needs, taken from the clients built at start-up.

Each is ``async def`` although it does not wait: FastAPI runs a plain ``def`` dependency in the
thread pool, a hop that cost a POST /download more than its whole Redis round trip."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from filegate.auth.limits import RateLimiter
from filegate.auth.principal import Principal
from filegate.auth.service import CSRF_HEADER, SESSION_COOKIE, AuthService
from filegate.settings import Settings
from filegate.state.access import RateCount
from filegate.storage.base import Storage
from filegate.tickets.events import EventHub
from filegate.tickets.service import TicketService
from filegate.tickets.store import TicketStore


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def get_ticket_service(request: Request) -> TicketService:
    service: TicketService = request.app.state.ticket_service
    return service


async def get_ticket_store(request: Request) -> TicketStore:
    store: TicketStore = request.app.state.ticket_store
    return store


async def get_event_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.event_hub
    return hub


async def get_auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def get_principal(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Principal:
    """The caller, from its bearer token or session cookie (401 without a valid one; a cookie
    without its CSRF header on a state-changing request, 403); anyone with auth off."""
    return await _authenticate(request, authorization, None)


async def get_download_caller(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Principal:
    """The caller, as ``get_principal``, with the request counted against its download rate
    (429 past it): for an API key in the same Redis round trip as the key's lookup."""
    settings: Settings = request.app.state.settings
    return await _authenticate(request, authorization, RateCount("download", *settings.rate_downloads))


async def _authenticate(request: Request, authorization: str | None, count: RateCount | None) -> Principal:
    auth: AuthService = request.app.state.auth_service
    cookie = request.cookies.get(SESSION_COOKIE)
    csrf = request.headers.get(CSRF_HEADER)
    principal = await auth.authenticate(request.method, authorization, cookie, csrf, count)
    request.state.principal = principal
    request.state.session_cookie = cookie if authorization is None and auth.enabled else None
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
TicketServiceDep = Annotated[TicketService, Depends(get_ticket_service)]
TicketStoreDep = Annotated[TicketStore, Depends(get_ticket_store)]
EventHubDep = Annotated[EventHub, Depends(get_event_hub)]
AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
DownloadCallerDep = Annotated[Principal, Depends(get_download_caller)]
