"""GET /files/... and /sources/...: the local store's downloads, for whoever holds a valid signed link
whose ticket is still ready (a released or expired ticket's links answer 410, even while another
ticket holds the same archive)."""

from __future__ import annotations

import mimetypes
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from filegate.deps import SettingsDep, StorageDep, TicketStoreDep
from filegate.errors import Forbidden, Gone, NotFound
from filegate.state.states import TicketStatus
from filegate.storage.base import SourceChanged
from filegate.storage.disposition import content_disposition
from filegate.storage.local import LocalStorage
from filegate.storage.signing import is_valid_signature

router = APIRouter(tags=["links"])

# Their templates: the request metrics count the bytes these routes serve.
ARCHIVE_ROUTE = "/files/{key:path}"
SOURCE_ROUTE = "/sources/{path:path}"


@router.api_route(ARCHIVE_ROUTE, methods=["GET", "HEAD"])
async def download_file(
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
    await _require_ready(tickets, ticket)
    path = storage.output_path(key)
    if not path.is_file():
        raise NotFound("the archive is no longer stored")
    return _attachment(path, name)


@router.api_route(SOURCE_ROUTE, methods=["GET", "HEAD"])
async def download_source(
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
    await _require_ready(tickets, ticket)
    try:
        source = await run_in_threadpool(storage.pinned_source_path, path, version)
    except SourceChanged:
        raise Gone("the file has changed or was deleted since this link was made") from None
    return _attachment(source, name)


async def _require_ready(tickets: TicketStoreDep, ticket_id: str) -> None:
    """Gone unless the link's ticket is still ready: released, expired or forgotten, its links end."""
    record = await tickets.get(ticket_id)
    if record is None or record.status is not TicketStatus.READY or record.is_expired:
        raise Gone("the ticket this link was given to was released or has expired", ticket_id=ticket_id)


def _attachment(path: Path, name: str) -> FileResponse:
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(
        path, media_type=media_type, headers={"Content-Disposition": content_disposition(name)}
    )
