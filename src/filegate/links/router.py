"""GET /files/...: archives of the local store, for whoever holds a valid signed link."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from filegate.deps import SettingsDep, StorageDep
from filegate.errors import Forbidden, Gone, NotFound
from filegate.links.disposition import content_disposition
from filegate.links.signing import is_valid_signature
from filegate.storage.local import LocalStorage

router = APIRouter(tags=["links"])


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"])
async def download_file(
    key: str,
    settings: SettingsDep,
    storage: StorageDep,
    expires: Annotated[int, Query()],
    name: Annotated[str, Query()],
    sig: Annotated[str, Query()],
) -> FileResponse:
    """The archive itself, with Range support for resumed downloads."""
    if not isinstance(storage, LocalStorage):
        raise NotFound("this store hands out its own links")
    if not is_valid_signature(settings.signing_secret, key, name, expires, sig):
        raise Forbidden("the link's signature is not valid")
    if time.time() >= expires:
        raise Gone("this link has expired", expired_at=expires)
    path = storage.output_path(key)
    if not path.is_file():
        raise NotFound("the archive is no longer stored")
    media_type = "application/zip" if name.endswith(".zip") else "application/octet-stream"
    return FileResponse(
        path, media_type=media_type, headers={"Content-Disposition": content_disposition(name)}
    )
