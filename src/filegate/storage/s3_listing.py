"""One level of an S3 folder, a page at a time: folders (common prefixes) first, then files."""

from __future__ import annotations

from collections.abc import Iterator

from minio import Minio
from minio.datatypes import Object
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from filegate.storage.base import (
    FolderEntry,
    FolderNotFound,
    FolderPage,
    FolderPosition,
    ListingPhase,
    NotAFolder,
    StorageUnavailable,
    is_listable_name,
    page_of,
)
from filegate.storage.minio_internals import list_keys

MISSING_CODES = {"NoSuchKey", "NoSuchVersion", "InvalidArgument"}
"""S3 error codes that mean: no object there."""
# The most keys S3 answers with per listing request.
_MAX_KEYS = 1000
_MAX_KEY_BYTES = 1024


def _listed(prefix: str, item: Object) -> FolderEntry | None:
    """The listing's entry for an object or common prefix right below ``prefix``; None for the
    folder's own marker (the key ``prefix``: its name is empty) and names no path can ask for.
    Other markers (keys ending in '/') come back as common prefixes: folders, not files."""
    key = item.object_name or ""
    name = key[len(prefix) :]
    if name.endswith("/"):  # a common prefix: a folder
        name = name[:-1]
        return FolderEntry(name, key[:-1], True, None, None, None) if is_listable_name(name) else None
    return _file_listed(name, item) if is_listable_name(name) else None


def _file_listed(name: str, item: Object) -> FolderEntry:
    # Listings give no version ids (listing versions would bring deleted keys and old versions
    # along): the ETag is what tells one content from another.
    etag = (item.etag or "").strip('"') or None
    path = item.object_name or name
    return FolderEntry(name, path, False, item.size or 0, item.last_modified, etag)


class S3FolderListing:
    """Delimiter listings of one bucket (the sources)."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def list_folder(self, folder: str, after: FolderPosition | None, limit: int) -> FolderPage:
        if len(folder.encode()) > _MAX_KEY_BYTES:
            # No key is longer, so nothing is there; S3 may refuse to be asked.
            raise FolderNotFound(f"{folder} does not exist", paths=[folder])
        prefix = f"{folder}/" if folder else ""
        entries: list[FolderEntry] = []
        # Files met while scanning for folders from the start: the first page needs no second request.
        early_files: list[FolderEntry] | None = None
        found_any = False
        if after is None or after.phase is ListingPhase.FOLDERS:
            # S3 lists folders (common prefixes) among the files, in key order: finding them all
            # means listing every key once. '0' follows '/': starting after "<name>0" skips
            # every key below the folder "<name>/" (and a file "<name>0", not wanted here).
            start = None if after is None else f"{prefix}{after.name}0"
            early_files = [] if after is None else None
            for item in self._children(prefix, start, _MAX_KEYS):
                found_any = True
                entry = _listed(prefix, item)
                if entry is not None and entry.is_dir:
                    entries.append(entry)
                    if len(entries) > limit:
                        return page_of(entries, limit)
                elif entry is not None and early_files is not None and len(early_files) <= limit:
                    early_files.append(entry)
            after = FolderPosition(ListingPhase.FILES, "")
        if early_files is None:
            early_files = []
            start = f"{prefix}{after.name}" if after.name else prefix or None
            # Twice a page's worth of keys (at least 100) per request: folders met on the way take
            # some of it, and one request more costs more than a longer answer.
            for item in self._children(prefix, start, min(_MAX_KEYS, max(100, 2 * (limit + 1)))):
                found_any = True
                entry = _listed(prefix, item)
                if entry is not None and not entry.is_dir:
                    early_files.append(entry)
                    if len(entries) + len(early_files) > limit:
                        break
        if folder and not found_any:
            self._require_folder(folder)
        return page_of(entries + early_files[: limit + 1 - len(entries)], limit)

    def child_entries(self, folder: str, names: list[str]) -> list[FolderEntry]:
        prefix = f"{folder}/" if folder else ""
        found = []
        for name in names:
            path = f"{prefix}{name}"
            if not is_listable_name(name):
                continue
            file = self._head(path)
            if file is not None:
                found.append(_file_listed(name, file))
            if any(True for _ in self._children(f"{path}/", None, 1)):
                found.append(FolderEntry(name, path, True, None, None, None))
        return found

    def _children(self, prefix: str, start_after: str | None, keys_per_request: int) -> Iterator[Object]:
        """The objects (files, and folder markers) and common prefixes (folders) right below
        ``prefix``, after ``start_after``: each kind in key order, but a page's files come
        before its prefixes."""
        try:
            yield from list_keys(self._client, self._bucket, prefix, start_after, keys_per_request)
        except (HTTPError, S3Error) as exc:
            raise StorageUnavailable(f"cannot list the S3 store: {exc}") from exc

    def _require_folder(self, folder: str) -> None:
        """Raise FolderNotFound or NotAFolder unless some key lies below ``folder``."""
        for _ in self._children(f"{folder}/", None, 1):
            return
        if self._head(folder) is not None:
            raise NotAFolder(f"{folder} is a file, not a folder", paths=[folder])
        raise FolderNotFound(f"{folder} does not exist", paths=[folder])

    def _head(self, key: str) -> Object | None:
        """The object at ``key``, or None when there is none (or none can be: a key too long)."""
        try:
            return self._client.stat_object(self._bucket, key)
        except S3Error as exc:
            if exc.code in MISSING_CODES or exc.code == "KeyTooLongError":
                return None
            raise StorageUnavailable(f"cannot read the S3 store: {exc}") from exc
        except HTTPError as exc:
            raise StorageUnavailable(f"cannot reach the S3 store: {exc}") from exc
