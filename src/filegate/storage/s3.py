"""The S3-compatible store (MinIO, AWS S3, ...) through the synchronous minio client."""

from __future__ import annotations

import base64
import itertools
import mimetypes
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Object
from minio.error import S3Error
from urllib3.exceptions import HTTPError

from filegate.storage.base import (
    FolderEntry,
    FolderPage,
    FolderPosition,
    OutputWriter,
    PathLimits,
    SourceChanged,
    SourceEntry,
    SourceStream,
    Storage,
    StorageUnavailable,
)
from filegate.storage.disposition import content_disposition
from filegate.storage.minio_internals import MultipartUploads
from filegate.storage.s3_copy import ServerCopy
from filegate.storage.s3_listing import MISSING_CODES, S3FolderListing
from filegate.storage.s3_output import S3OutputWriter

# SigV4 presigned URLs are valid for at most seven days.
MAX_PRESIGN = timedelta(days=7)
_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
_CHANGED_CODES = {"PreconditionFailed"}


def make_client(
    endpoint: str, access_key: str, secret_key: str, region: str, *, probe: bool = False
) -> Minio:
    """A client for ``http(s)://host:port``; the fixed region spares a lookup request. A
    ``probe`` client (for health checks) gives up after two seconds, without retrying."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    http_client = None
    if probe:
        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=2, read=2), retries=urllib3.Retry(total=0), maxsize=2
        )
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=parts.scheme == "https",
        region=region,
        http_client=http_client,
    )


class S3SourceStream(SourceStream):
    """The pinned bytes of one object, all of them or ``length`` from ``offset``."""

    def __init__(
        self, client: Minio, bucket: str, entry: SourceEntry, offset: int = 0, length: int = 0
    ) -> None:
        # A version id names immutable bytes; without one, If-Match makes a
        # changed object answer 412 instead of handing over its new bytes.
        headers: dict[str, Any] | None = None if entry.version_id else {"If-Match": f'"{entry.version}"'}
        try:
            self._response = client.get_object(
                bucket,
                entry.path,
                offset=offset,
                length=length,
                version_id=entry.version_id,
                request_headers=headers,
            )
        except S3Error as exc:
            if exc.code in _CHANGED_CODES:
                raise SourceChanged(
                    f"{entry.path} changed since it was requested", paths=[entry.path]
                ) from None
            if exc.code in MISSING_CODES:
                raise SourceChanged(f"{entry.path} was deleted", paths=[entry.path]) from None
            raise
        except HTTPError as exc:
            raise StorageUnavailable(f"cannot read {entry.path}: {exc}") from exc

    def read(self, size: int) -> bytes:
        data: bytes = self._response.read(size)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count: int = self._response.readinto(buffer)
        return count

    def close(self) -> None:
        self._response.close()
        self._response.release_conn()


class S3Storage(Storage):
    path_limits = PathLimits(name_bytes=1024, path_bytes=1024)
    """An object key is at most 1,024 bytes of UTF-8."""

    def __init__(
        self,
        client: Minio,
        public_client: Minio,
        source_bucket: str,
        output_bucket: str,
        part_size: int,
        probe_client: Minio | None = None,
        upload_concurrency: int = 4,
        small_files_fetched_ahead: int = 8,
        server_copy_min_size: int | None = None,
    ) -> None:
        self._client = client
        self._probe = probe_client or client
        self._public_client = public_client
        self.source_bucket = source_bucket
        self.output_bucket = output_bucket
        self._part_size = part_size
        self._upload_concurrency = upload_concurrency
        self.small_files_fetched_ahead = small_files_fetched_ahead
        # Made on first use, in the process that builds: threads do not survive a fork, and
        # Celery's prefork pool forks its children after the worker has made its clients.
        self._uploader: ThreadPoolExecutor | None = None
        self._versioned: bool | None = None
        self._listing = S3FolderListing(client, source_bucket)
        self._output_uploads = MultipartUploads(client, output_bucket)
        # Sources and outputs are on one server with one client: the server may copy between them.
        self._copier = (
            None
            if server_copy_min_size is None
            else ServerCopy(self._output_uploads, source_bucket, server_copy_min_size)
        )
        self.server_copy_min_size = None if self._copier is None else self._copier.min_size

    def _is_versioned(self) -> bool:
        if self._versioned is None:
            config = self._client.get_bucket_versioning(self.source_bucket)
            self._versioned = config.status == "Enabled"
        return self._versioned

    def _file_entry(
        self, key: str, size: int, modified: datetime | None, etag: str, version_id: str | None
    ) -> SourceEntry:
        etag = etag.strip('"')
        if version_id == "null":
            # The version of an object written while versioning was off or suspended: a write
            # while versioning is suspended replaces it, so only its ETag pins its bytes.
            version_id = None
        return SourceEntry(
            path=key,
            is_dir=False,
            size=size,
            modified=modified or _EPOCH,
            version=version_id or etag,
            version_id=version_id,
        )

    def stat(self, path: str) -> SourceEntry | None:
        try:
            if path and not path.endswith("/"):
                try:
                    found = self._client.stat_object(self.source_bucket, path)
                    return self._file_entry(
                        path, found.size or 0, found.last_modified, found.etag or "", found.version_id
                    )
                except S3Error as exc:
                    if exc.code not in MISSING_CODES:
                        raise
            prefix = f"{path.rstrip('/')}/" if path else ""
            for _ in self._client.list_objects(self.source_bucket, prefix=prefix):
                return SourceEntry(path=path.rstrip("/"), is_dir=True, size=0, modified=_EPOCH, version="")
            return None
        except HTTPError as exc:
            raise StorageUnavailable(f"cannot reach the S3 store: {exc}") from exc

    def _latest_objects(self, prefix: str) -> Iterator[Object]:
        if not self._is_versioned():
            yield from self._client.list_objects(self.source_bucket, prefix=prefix, recursive=True)
            return
        for item in self._client.list_objects(
            self.source_bucket, prefix=prefix, recursive=True, include_version=True
        ):
            # The listing reports is_latest as the text "true"/"false".
            if str(item.is_latest).lower() == "true" and not item.is_delete_marker:
                yield item

    def walk(self, folder: str) -> Iterator[SourceEntry]:
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        yield from self._entries_below(prefix, self._latest_objects(prefix))

    def folder_tree(self, path: str) -> tuple[SourceEntry, Iterator[SourceEntry]] | None:
        # One listing where stat and walk would make two (or three, with stat's HEAD): it is
        # started here, and the folder exists when it lists anything, a folder marker included.
        prefix = f"{path.rstrip('/')}/" if path else ""
        listed = self._latest_objects(prefix)
        try:
            first = next(listed, None)
        except HTTPError as exc:
            raise StorageUnavailable(f"cannot reach the S3 store: {exc}") from exc
        if first is None:
            return None
        folder = SourceEntry(path=path.rstrip("/"), is_dir=True, size=0, modified=_EPOCH, version="")
        return folder, self._entries_below(prefix, itertools.chain([first], listed))

    def _entries_below(self, prefix: str, listed: Iterator[Object]) -> Iterator[SourceEntry]:
        """``walk``'s entries from the listing of every object below ``prefix``."""
        seen_dirs: set[str] = set()
        try:
            for item in listed:
                key = item.object_name or ""
                parts = key[len(prefix) :].split("/")
                for depth in range(1, len(parts)):
                    directory = prefix + "/".join(parts[:depth])
                    if directory not in seen_dirs:
                        seen_dirs.add(directory)
                        yield SourceEntry(
                            path=directory,
                            is_dir=True,
                            size=0,
                            modified=item.last_modified or _EPOCH,
                            version="",
                        )
                if key.endswith("/"):
                    continue  # a folder marker: the folder itself was yielded above
                yield self._file_entry(
                    key, item.size or 0, item.last_modified, item.etag or "", item.version_id
                )
        except HTTPError as exc:
            raise StorageUnavailable(f"cannot reach the S3 store: {exc}") from exc

    def list_folder(self, folder: str, after: FolderPosition | None, limit: int) -> FolderPage:
        return self._listing.list_folder(folder, after, limit)

    def child_entries(self, folder: str, names: list[str]) -> list[FolderEntry]:
        return self._listing.child_entries(folder, names)

    def open_source(self, entry: SourceEntry) -> SourceStream:
        return S3SourceStream(self._client, self.source_bucket, entry)

    def open_source_range(self, entry: SourceEntry, offset: int, length: int) -> SourceStream:
        if length <= 0:  # the client reads a length of 0 as "to the end"
            raise ValueError("a range of no bytes")
        return S3SourceStream(self._client, self.source_bucket, entry, offset, length)

    def content_pin(self, entry: SourceEntry) -> str:
        # A version id names immutable bytes; without one, the ETag names the content.
        pin = f"v={entry.version_id}" if entry.version_id else f"etag={entry.version}"
        return f"s3:{self.source_bucket}/{entry.path}\0{pin}"

    def stored_crc32(self, entry: SourceEntry) -> int | None:
        """The object's own CRC-32 when it was stored with one that covers the whole object: a
        full-object checksum, or one of a single PUT (a composite one, of a multipart upload,
        is a CRC of the parts' CRCs, and ends in -<parts>)."""
        try:
            found = self._client.stat_object(
                self.source_bucket,
                entry.path,
                version_id=entry.version_id,
                extra_headers={"x-amz-checksum-mode": "ENABLED"},
            )
        except S3Error:
            return None  # gone (the build will say so), or a store that keeps no checksums
        except HTTPError as exc:
            raise StorageUnavailable(f"cannot reach the S3 store: {exc}") from exc
        headers = found.metadata or {}
        value = headers.get("x-amz-checksum-crc32")
        kind = headers.get("x-amz-checksum-type", "FULL_OBJECT")
        if not value or "-" in value or kind != "FULL_OBJECT":
            return None
        if entry.version_id is None and (found.etag or "") != entry.version:
            return None  # the object changed since it was pinned
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            return None
        return int.from_bytes(raw, "big") if len(raw) == 4 else None

    def create_output(self, key: str) -> OutputWriter:
        if self._uploader is None:
            self._uploader = ThreadPoolExecutor(
                self._upload_concurrency, thread_name_prefix="filegate-s3-upload"
            )
        return S3OutputWriter(
            self._client,
            self.output_bucket,
            key,
            self._part_size,
            self._uploader,
            self._upload_concurrency,
            self._copier,
        )

    def discard_incomplete(self, key: str) -> None:
        for upload in list(self._output_uploads.incomplete(prefix=key)):
            if upload.key == key:
                self._output_uploads.abort(key, upload.upload_id)

    def discard_stale_incomplete(self, older_than_seconds: int, running: Collection[str] = ()) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        stale = [
            upload
            for upload in self._output_uploads.incomplete()
            if upload.initiated_at is not None
            and upload.initiated_at < cutoff
            and upload.key.split("/", 1)[0] not in running
        ]
        for upload in stale:
            self._output_uploads.abort(upload.key, upload.upload_id)
        return len(stale)

    def output_exists(self, key: str) -> bool:
        try:
            self._client.stat_object(self.output_bucket, key)
        except S3Error as exc:
            if exc.code in MISSING_CODES:
                return False
            raise
        return True

    def delete_output(self, key: str) -> None:
        self._client.remove_object(self.output_bucket, key)

    def source_link(
        self, entry: SourceEntry, download_name: str, expires_at: datetime, ticket_id: str
    ) -> str:
        # A presigned link cannot be revoked: it names no ticket and lives until ``expires_at``.
        # With a version id the link serves exactly the pinned version. An
        # unversioned bucket cannot: the link serves what the key holds then.
        return self._presign(self.source_bucket, entry.path, download_name, expires_at, entry.version_id)

    def output_link(self, key: str, download_name: str, expires_at: datetime, ticket_id: str) -> str:
        return self._presign(self.output_bucket, key, download_name, expires_at, None)

    def _presign(
        self, bucket: str, key: str, download_name: str, expires_at: datetime, version_id: str | None
    ) -> str:
        # SigV4 counts the lifetime from X-Amz-Date, in whole seconds: sign at a whole second
        # so the link ends at ``expires_at`` (rounded down), not a second or two before.
        signed_at = datetime.now(UTC).replace(microsecond=0)
        lifetime = max(timedelta(seconds=1), min(expires_at - signed_at, MAX_PRESIGN))
        headers: dict[str, Any] = {
            "response-content-disposition": content_disposition(download_name),
            "response-content-type": mimetypes.guess_type(download_name)[0] or "application/octet-stream",
        }
        url: str = self._public_client.presigned_get_object(
            bucket,
            key,
            expires=lifetime,
            response_headers=headers,
            request_date=signed_at,
            version_id=version_id,
        )
        return url

    def prepare(self) -> None:
        if not self._client.bucket_exists(self.output_bucket):
            self._client.make_bucket(self.output_bucket)

    def check_sources(self) -> None:
        self._check_bucket(self.source_bucket)

    def check_output(self) -> None:
        self._check_bucket(self.output_bucket)

    def _check_bucket(self, bucket: str) -> None:
        try:
            exists = self._probe.bucket_exists(bucket)
        except (HTTPError, S3Error) as exc:
            raise StorageUnavailable(f"cannot reach the S3 store: {exc}") from exc
        if not exists:
            raise StorageUnavailable(f"bucket {bucket} does not exist")
