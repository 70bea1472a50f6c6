"""Listing one level of a folder, within what the caller may read."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from filegate.auth.principal import Principal, within
from filegate.browse.cursor import decode_cursor
from filegate.errors import Forbidden
from filegate.snapshot.paths import UNLIMITED, normalise_path
from filegate.storage.base import (
    FolderEntry,
    FolderNotFound,
    FolderPage,
    FolderPosition,
    NotAFolder,
    PathEscapesRoot,
    PathLimits,
    Storage,
    listing_key,
    page_of,
)

MAX_PAGE_ENTRIES = 1000
"""A larger ``limit`` is lowered to this: one page is one answer of a few hundred KB at most."""


def normalise_folder(raw: str, limits: PathLimits = UNLIMITED) -> str:
    """'' (or '.', './') is the root; any other path follows POST /download's rules."""
    segments = raw.split("/")
    if raw == "" or (not raw.startswith("/") and "." in segments and set(segments) <= {"", "."}):
        return ""
    return normalise_path(raw, "path", limits).path


def children_towards_scopes(folder: str, scopes: tuple[str, ...]) -> list[str]:
    """The children of ``folder`` on the way to the scopes that lie below it, by name."""
    depth = len(folder.split("/")) if folder else 0
    below = (scope for scope in scopes if scope != folder and within(scope, folder))
    return sorted({scope.split("/")[depth] for scope in below})


def page_from(entries: list[FolderEntry], after: FolderPosition | None, limit: int) -> FolderPage:
    """A page of ``entries`` (in any order) as ``Storage.list_folder`` would give it."""
    start = after.key if after is not None else (-1, "")
    ordered = sorted(entries, key=lambda entry: listing_key(entry.is_dir, entry.name))
    return page_of([entry for entry in ordered if entry.position.key > start][: limit + 1], limit)


async def browse_folder(
    storage: Storage, principal: Principal, raw_path: str, cursor: str | None, limit: int
) -> tuple[str, FolderPage]:
    """The normalised folder and one page of it, as much as ``principal`` may see.

    A folder the caller may read is listed. A folder above the caller's scopes shows only the
    children leading to them: they are looked up one by one, the folder itself is never listed,
    so nothing beside them shows. Anything else is Forbidden, before the store is asked.
    """
    folder = normalise_folder(raw_path, storage.path_limits)
    after = decode_cursor(folder, cursor) if cursor else None
    limit = min(limit, MAX_PAGE_ENTRIES)
    if principal.may_read(folder):
        try:
            return folder, await run_in_threadpool(storage.list_folder, folder, after, limit)
        except (FolderNotFound, NotAFolder, PathEscapesRoot) as exc:
            # The store names the path; the answer also names the parameter, as for other errors.
            raise type(exc)(exc.detail, field="path", **exc.extra) from None
    names = children_towards_scopes(folder, principal.scopes)
    if not names:
        raise Forbidden("these paths are outside what you may read", field="path", paths=[raw_path])
    found = await run_in_threadpool(storage.child_entries, folder, names)
    # A file shows only where it is itself within a scope; a folder leads to one.
    visible = [entry for entry in found if entry.is_dir or principal.may_read(entry.path)]
    return folder, page_from(visible, after, limit)
