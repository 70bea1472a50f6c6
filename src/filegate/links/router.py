"""GET /files/... and /sources/...: the local store's downloads, for whoever holds a valid signed link
whose ticket is still ready (a released or expired ticket's links answer 410, even while another
ticket holds the same archive)."""

from __future__ import annotations

import mimetypes
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from filegate.contract.responses import PUBLIC, errors, security
from filegate.deps import SettingsDep, StorageDep, TicketStoreDep
from filegate.errors import FilegateError, Forbidden, Gone, InvalidRequest, NotFound
from filegate.state.states import TicketStatus
from filegate.storage.base import SourceChanged
from filegate.storage.disposition import content_disposition
from filegate.storage.local import LocalStorage
from filegate.storage.signing import is_valid_signature

router = APIRouter(tags=["links"])

LINK: dict[str, Any] = {"openapi_extra": security(PUBLIC)}


class RangeOutside(FilegateError):
    status_code = 416
    error = "range_not_satisfiable"

    def __init__(self, detail: str, size: int) -> None:
        super().__init__(detail, field="range")
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


# Their templates: the request metrics count the bytes these routes serve.
ARCHIVE_ROUTE = "/files/{key:path}"
SOURCE_ROUTE = "/sources/{path:path}"


_LINK_ERRORS = errors(400, 403, 404, 410, 416, 422, 503)


def _file_answers(what: str) -> dict[int | str, dict[str, Any]]:
    ranged = {"schema": {"type": "string", "format": "binary"}}
    return {
        200: {"description": what, "content": {"application/octet-stream": ranged}},
        206: {
            "description": "The byte range asked for in `Range` (`Content-Range` says which).",
            "content": {"application/octet-stream": ranged},
        },
        **_LINK_ERRORS,
    }


@router.head(
    ARCHIVE_ROUTE,
    summary="An archive part's headers (size, ETag), without its bytes",
    operation_id="head_archive_file",
    responses=_file_answers("The part's headers; no body."),
    **LINK,
)
@router.get(
    ARCHIVE_ROUTE,
    summary="Download an archive part (local store)",
    operation_id="download_archive_file",
    responses=_file_answers("The part's bytes."),
    **LINK,
)
async def download_file(
    request: Request,
    key: str,
    settings: SettingsDep,
    storage: StorageDep,
    tickets: TicketStoreDep,
    expires: Annotated[int, Query()],
    name: Annotated[str, Query()],
    ticket: Annotated[str, Query()],
    sig: Annotated[str, Query()],
) -> FileResponse:
    """The archive itself, with Range support for resumed downloads."""
    if not isinstance(storage, LocalStorage):
        raise NotFound("this store hands out its own links")
    if not is_valid_signature(settings.signing_secret, key, name, expires, ticket, sig):
        raise Forbidden("the link's signature is not valid")
    if time.time() >= expires:
        raise Gone("this link has expired", expired_at=expires)
    await _require_live(tickets, ticket, _PART_SERVED)
    found = await run_in_threadpool(_stat_file, storage.output_path, key)
    if found is None:
        raise NotFound("the archive is no longer stored")
    return _attachment(request, *found, name)


@router.head(
    SOURCE_ROUTE,
    summary="A linked source file's headers, without its bytes",
    operation_id="head_source_file",
    responses=_file_answers("The file's headers; no body."),
    **LINK,
)
@router.get(
    SOURCE_ROUTE,
    summary="Download a source file linked directly (local store)",
    operation_id="download_source_file",
    responses=_file_answers("The file's bytes."),
    **LINK,
)
async def download_source(
    request: Request,
    path: str,
    settings: SettingsDep,
    storage: StorageDep,
    tickets: TicketStoreDep,
    expires: Annotated[int, Query()],
    name: Annotated[str, Query()],
    ticket: Annotated[str, Query()],
    version: Annotated[str, Query()],
    sig: Annotated[str, Query()],
) -> FileResponse:
    """One source file, as it was when the ticket was made; 410 once it has changed."""
    if not isinstance(storage, LocalStorage):
        raise NotFound("this store hands out its own links")
    if not is_valid_signature(settings.signing_secret, path, name, expires, ticket, sig, version):
        raise Forbidden("the link's signature is not valid")
    if time.time() >= expires:
        raise Gone("this link has expired", expired_at=expires)
    await _require_live(tickets, ticket, _SOURCE_SERVED)
    try:
        found = await run_in_threadpool(_stat_file, storage.pinned_source_path, path, version)
    except SourceChanged:
        found = None
    if found is None:
        raise Gone("the file has changed or was deleted since this link was made")
    return _attachment(request, *found, name)


# A part's link is handed out once the part is committed, while its ticket may still be preparing.
_PART_SERVED = frozenset({TicketStatus.READY, TicketStatus.PREPARING})
_SOURCE_SERVED = frozenset({TicketStatus.READY})


async def _require_live(tickets: TicketStoreDep, ticket_id: str, served: frozenset[TicketStatus]) -> None:
    """Gone unless the link's ticket is still live: released, expired, failed, cancelled or
    forgotten, its links end."""
    record = await tickets.get(ticket_id)
    if record is None or record.status not in served or record.is_expired:
        raise Gone("the ticket this link was given to was released or has expired", ticket_id=ticket_id)


def _stat_file(locate: Callable[..., Path], *args: str) -> tuple[Path, os.stat_result] | None:
    """The file and its stat, taken once (the answer's headers come from this stat, so a file
    removed meanwhile is a 404 here, not a failure half-way through the answer); None if absent."""
    try:
        path = locate(*args)
        found = os.stat(path)
    except (OSError, ValueError):  # gone, not a file, a name too long for the filesystem
        return None
    return (path, found) if stat.S_ISREG(found.st_mode) else None


def _attachment(request: Request, path: Path, found: os.stat_result, name: str) -> FileResponse:
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(
        path,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(name)},
        stat_result=found,
    )
    _check_range(request, response, found.st_size)
    return response


def _check_range(request: Request, response: FileResponse, size: int) -> None:
    """Refuse a Range the response would refuse, as an Error (Starlette's own answer is plain text)."""
    wanted, if_range = request.headers.get("range"), request.headers.get("if-range")
    if wanted is None or (if_range is not None and not response._should_use_range(if_range)):
        return
    try:
        FileResponse._parse_range_header(wanted, size)
    except MalformedRangeHeader as exc:
        raise InvalidRequest(f"the Range header cannot be read: {exc.content}", field="range") from None
    except RangeNotSatisfiable:
        raise RangeOutside(f"the Range header asks for bytes past the end ({size} bytes)", size) from None
