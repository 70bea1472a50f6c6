"""GET /browse: one level of a folder of the source store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from filegate.browse.schemas import FolderListing
from filegate.browse.service import MAX_PAGE_ENTRIES, browse_folder
from filegate.contract.responses import CALLER, errors, security
from filegate.deps import PrincipalDep, StorageDep

router = APIRouter(tags=["browse"])


@router.get(
    "/browse",
    response_model=FolderListing,
    summary="List one level of a folder",
    operation_id="browse_folder",
    openapi_extra=security(CALLER),
    responses=errors(401, 403, 404, 422, 503),
    description="Folders first, then files, a page at a time, within the caller's scopes: above "
    "a scope, only the folders leading to it show. Folder sizes are not computed.",
)
async def browse(
    storage: StorageDep,
    principal: PrincipalDep,
    path: Annotated[
        str, Query(description="The folder, relative to the store's root; empty for the root.")
    ] = "",
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[
        int,
        Query(ge=1, description=f"Entries per page; more than {MAX_PAGE_ENTRIES} is lowered to it."),
    ] = 100,
) -> FolderListing:
    folder, page = await browse_folder(storage, principal, path, cursor, limit)
    return FolderListing.of(folder, page)
