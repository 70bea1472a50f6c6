"""What a route adds to its decorator so the document tells the truth: its errors and who may call."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from filegate.contract.schemas import Error

BEARER = "bearer"
SESSION_COOKIE_SCHEME = "session_cookie"

CALLER: list[dict[str, list[str]]] = [{BEARER: []}, {SESSION_COOKIE_SCHEME: []}]
"""An app's API key or a user's session, as a bearer token or as the page's cookie."""
CALLER_OR_LINK: list[dict[str, list[str]]] = [*CALLER, {}]
"""As CALLER, or none at all with a signed ``access`` query parameter instead."""
ADMIN: list[dict[str, list[str]]] = [{BEARER: []}]
"""A bearer token only: the admin token (or, for /users, an app's API key)."""
PUBLIC: list[dict[str, list[str]]] = []
"""Nothing: anyone who reaches the port (a signed link carries its own proof)."""

_WHEN = {
    400: "The request cannot be read: a body that is not JSON in UTF-8, a malformed Range.",
    401: "No valid bearer token or session (`WWW-Authenticate` says how).",
    403: "Not allowed: outside the caller's scopes, refused by the licence, a bad signature, or a "
    "cookie request without `X-Filegate-CSRF`.",
    404: "Nothing of that name (or it is another caller's).",
    409: "Not in a state for this (`state` holds the ticket's).",
    410: "Expired or released; the link or ticket no longer works.",
    413: "Larger than allowed (body, files, bytes or space budget).",
    416: "The `Range` asks for bytes past the end (`Content-Range` gives the size).",
    422: "Malformed input; `field` names it, `errors` lists each schema error.",
    429: "Past a rate limit; `Retry-After` says when to try again.",
    503: "Redis, the build queue or the store cannot be reached.",
}

_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="filegate"'}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route's decorator for these error statuses, each an Error."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        answer: dict[str, Any] = {"model": Error, "description": _WHEN.get(status, HTTPStatus(status).phrase)}
        if status in _HEADERS:
            answer["headers"] = _HEADERS[status]
        documented[status] = answer
    return documented


def event_stream(description: str) -> dict[str, Any]:
    """A 200 of Server-Sent Events: each event (``id``, ``event``, ``data`` holding JSON) as its schema."""
    event = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "Send back as Last-Event-ID to resume after it."},
            "event": {
                "type": "string",
                "examples": ["status", "position", "progress", "part_ready", "resync"],
            },
            "data": {"type": "string", "description": "The event's JSON (see docs/api.md)."},
        },
        "required": ["data"],
    }
    return {"description": description, "content": {"text/event-stream": {"schema": event}}}


def security(requirement: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The ``openapi_extra`` of a route: who may call it."""
    return {"security": requirement}
