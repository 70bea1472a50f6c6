"""One log line and the HTTP metrics for every request, written when its answer has ended.

A pure ASGI middleware rather than BaseHTTPMiddleware: status streams last
minutes, and the line must measure the whole answer, not the time to its
first byte. It wraps everything else (error handlers and the body limit
included), so every answer is seen; the principal and the ticket id are
read from the request's state and path parameters once the routes have run,
with any ``log_fields`` a route put there (POST /download: the new ticket's build and size).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filegate.links.router import ARCHIVE_ROUTE, SOURCE_ROUTE
from filegate.metrics.http import HttpMetrics
from filegate.streaming import DIRECT_SEND

log = logging.getLogger("filegate.http")

OTHER_ROUTE = "other"
"""The route label of a request no route matched."""

# Load balancers and Prometheus poll these: their lines go out at debug only.
QUIET_ROUTES = frozenset({"/health", "/health/ready", "/metrics"})

SERVED_LINKS = {ARCHIVE_ROUTE: "archive", SOURCE_ROUTE: "source"}


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before starting its answer
        body_bytes = 0
        content_length = 0

        async def watched_send(message: Message) -> None:
            nonlocal status, body_bytes, content_length
            if message["type"] == "http.response.start":
                status = int(message["status"])
                content_length = _content_length(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                body_bytes += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":
                # The server sends the file itself: its bytes never pass through here.
                body_bytes += content_length
            await send(message)

        async def direct_send(message: Message) -> None:
            nonlocal body_bytes
            body_bytes += len(message.get("body", b""))
            await send(message)

        scope[DIRECT_SEND] = direct_send  # an event stream's frames (filegate/streaming.py)
        try:
            await self._app(scope, receive, watched_send)
        finally:
            self._record(scope, status, body_bytes, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, body_bytes: int, duration_seconds: float) -> None:
        route = route_template(scope)
        try:
            self._metrics.observe_request(scope["method"], route, status, duration_seconds)
            if route in SERVED_LINKS and status in (200, 206) and body_bytes:
                self._metrics.add_served_bytes(SERVED_LINKS[route], body_bytes)
        except Exception:
            log.debug("could not record the metrics of a request", exc_info=True)
        fields = request_fields(scope, route, status, body_bytes, duration_seconds)
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        log.log(level, "%s %s %d", scope["method"], route, status, extra=fields)


def route_template(scope: Scope) -> str:
    """The matched route's template (``/ticket/{ticket_id}/status``), never the raw path, so
    label values stay few; 'other' when no route matched."""
    route: Any = scope.get("route")
    if isinstance(route, BaseRoute) and hasattr(route, "path"):
        return str(route.path)
    # Plain Starlette routes (/docs, /openapi.json) name only their endpoint.
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is not None and app is not None:
        for candidate in getattr(app, "routes", ()):
            if getattr(candidate, "endpoint", None) is endpoint and hasattr(candidate, "path"):
                return str(candidate.path)
    return OTHER_ROUTE


def request_fields(
    scope: Scope, route: str, status: int, body_bytes: int, duration_seconds: float
) -> dict[str, Any]:
    """The log line's fields. Never the query string: a download link's carries its signature."""
    state = scope.get("state") or {}
    principal = state.get("principal")
    path_params = scope.get("path_params") or {}
    client = scope.get("client")
    fields: dict[str, Any] = {
        "method": scope["method"],
        "route": route,
        "path": scope.get("path", ""),
        "status": status,
        "duration_ms": round(duration_seconds * 1000, 1),
        "bytes": body_bytes,
        "client": client[0] if client else None,
    }
    owner = getattr(principal, "owner", None)
    if owner:
        fields["principal"] = owner
    ticket_id = path_params.get("ticket_id") or state.get("ticket_id")
    if ticket_id:
        fields["ticket_id"] = ticket_id
    fields.update(state.get("log_fields") or {})  # what the route adds (tickets/router.py)
    return fields


def _content_length(headers: Any) -> int:
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return 0
