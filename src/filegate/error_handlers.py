"""The exception handlers: every error answer, whoever raises it, is one Error body (contract/schemas.py)."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from filegate.errors import FilegateError

log = logging.getLogger(__name__)

_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|[a-z-]+\[.*\])$")
"""The member tags pydantic puts in a union field's location (``expires_in.str``): not fields."""


def _field_name(location: tuple[int | str, ...]) -> str:
    """``paths[0]``, ``limit``: the field as the caller wrote it, without where it was sent."""
    if location and location[0] in _LOCATIONS:
        location = location[1:]
    parts = [str(part) for part in location]
    while len(parts) > 1 and _UNION_MEMBER.match(parts[-1]):
        parts.pop()
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name or "body"


async def _filegate_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FilegateError)
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers())


async def _redis_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("Redis is unavailable: %s", exc)
    body = {"error": "unavailable", "detail": "the ticket store (Redis) cannot be reached; try again later"}
    return JSONResponse(body, status_code=503)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field_name(tuple(error["loc"])), "message": error["msg"]} for error in exc.errors()]
    detail = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
    body: dict[str, object] = {"error": "invalid_request", "detail": detail, "errors": errors}
    if len({error["field"] for error in errors}) == 1:
        body["field"] = errors[0]["field"]
    return JSONResponse(body, status_code=422)


_FASTAPI_UNREADABLE_BODY = "There was an error parsing the body"
"""FastAPI's 400 for a body it cannot decode (bytes that are not UTF-8, say)."""


def _code(status: int) -> str:
    """'not_found', 'method_not_allowed': the status's phrase as an error code."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "http_error"
    return phrase.lower().replace(" ", "_").replace("-", "_")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (no such route, a method the route does not take) as an Error."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        detail = f"there is no {request.url.path!r} here: see /docs for the API"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path!r}; it takes {allowed}"
    elif exc.detail == _FASTAPI_UNREADABLE_BODY:
        return JSONResponse(
            {"error": "bad_request", "detail": "the request body is not JSON in UTF-8", "field": "body"},
            status_code=400,
        )
    else:
        detail = str(exc.detail)
    body = {"error": _code(exc.status_code), "detail": detail}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FilegateError, _filegate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RedisError, _redis_error)
    app.add_exception_handler(HTTPException, _http_error)
