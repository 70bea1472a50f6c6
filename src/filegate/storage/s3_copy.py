"""Server-side copy: a source's bytes placed into an archive's multipart upload by the store itself
(UploadPartCopy), from the pinned version, without passing through the worker.

Not every S3-compatible store takes UploadPartCopy, or takes it between two buckets with the
credentials filegate has. The first large entry that could be copied probes the store once per
process: a one-byte copy into an upload that is then aborted. A refusal turns copying off for
the rest of the process (logged once) and entries stream as they always did.
"""

from __future__ import annotations

import logging
import threading
import uuid
from urllib.parse import quote

from minio.datatypes import Part
from minio.error import S3Error

from filegate.storage.base import SourceChanged, SourceEntry, StorageUnavailable
from filegate.storage.minio_internals import MultipartUploads
from filegate.storage.s3_listing import MISSING_CODES

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024
"""The smallest part S3 takes, but for the last one of an upload."""

# What a store that does not do UploadPartCopy (or not between these buckets) answers.
REFUSED_CODES = frozenset(
    {"NotImplemented", "AccessDenied", "InvalidRequest", "MethodNotAllowed", "XNotImplemented"}
)
_PROBE_PREFIX = ".filegate-probe"


def head_bytes(buffered: int, first: int, part_size: int) -> int:
    """How many of a file's first bytes (``first`` at least) to write after the ``buffered`` bytes
    of a part of ``part_size`` before the rest is copied: the fewest after which the part is
    either just sent (the buffer empty) or holds at least a minimum part, since the part ahead of
    a copy may not be smaller."""
    left = (buffered + first) % part_size
    return first if left == 0 or left >= MIN_PART_SIZE else first + MIN_PART_SIZE - left


def copy_ranges(offset: int, end: int, part_size: int) -> list[tuple[int, int]]:
    """The inclusive byte ranges copying ``offset`` to ``end`` (exclusive) as parts: of the part
    size, the last taking the remainder, as a range under 5 MiB could not be a part."""
    count = max(1, (end - offset) // part_size)
    starts = [offset + index * part_size for index in range(count)]
    return [
        (start, end - 1 if index == count - 1 else start + part_size - 1)
        for index, start in enumerate(starts)
    ]


def copy_source_headers(bucket: str, entry: SourceEntry) -> dict[str, str]:
    """The x-amz-copy-source headers naming exactly the pinned bytes: the version id, or on an
    unversioned bucket the key with its ETag as a condition (a changed object answers 412)."""
    source = quote(f"/{bucket}/{entry.path}")
    if entry.version_id:
        return {"x-amz-copy-source": f"{source}?versionId={quote(entry.version_id)}"}
    return {"x-amz-copy-source": source, "x-amz-copy-source-if-match": f'"{entry.version}"'}


class ServerCopy:
    """Copies from ``source_bucket`` into uploads of ``uploads``' bucket, for sources of at least
    ``min_size`` bytes, while the store takes it. Shared by every output of one process."""

    def __init__(self, uploads: MultipartUploads, source_bucket: str, min_size: int) -> None:
        self._uploads = uploads
        self._source_bucket = source_bucket
        self.min_size = max(min_size, 2 * MIN_PART_SIZE)
        self._supported: bool | None = None
        self._lock = threading.Lock()

    def may_copy(self, entry: SourceEntry) -> bool:
        """Whether ``entry`` is large enough, and the store not known to refuse."""
        return entry.size >= self.min_size and self._supported is not False

    def is_supported(self, entry: SourceEntry) -> bool:
        """Whether the store copies; the first call per process asks it, copying ``entry``'s
        first byte into an upload aborted right after."""
        with self._lock:
            if self._supported is None:
                self._supported = self._probe(entry)
            return self._supported

    def _probe(self, entry: SourceEntry) -> bool:
        key = f"{_PROBE_PREFIX}/{uuid.uuid4().hex}"
        upload_id = self._uploads.create(key, "application/octet-stream")
        try:
            self._uploads.upload_part_copy(key, upload_id, 1, self._headers(entry), 0, 0)
        except S3Error as exc:
            if exc.code in MISSING_CODES or exc.code == "PreconditionFailed":
                raise SourceChanged(
                    f"{entry.path} changed since it was requested", paths=[entry.path]
                ) from None
            self._refused(exc)
            return False
        finally:
            self._uploads.abort(key, upload_id)
        log.info("the S3 store copies parts itself (UploadPartCopy): large stored entries are copied")
        return True

    def _refused(self, exc: S3Error) -> None:
        log.warning(
            "the S3 store refused a server-side copy (%s: %s); entries stream through this worker "
            "from now on",
            exc.code,
            exc.message,
        )

    def _headers(self, entry: SourceEntry) -> dict[str, str]:
        return copy_source_headers(self._source_bucket, entry)

    def copy_part(
        self, key: str, upload_id: str, number: int, entry: SourceEntry, start: int, end: int
    ) -> Part:
        """Part ``number`` of the upload: bytes ``start`` to ``end`` (inclusive) of ``entry``."""
        try:
            return self._uploads.upload_part_copy(key, upload_id, number, self._headers(entry), start, end)
        except S3Error as exc:
            if exc.code in MISSING_CODES or exc.code == "PreconditionFailed":
                raise SourceChanged(
                    f"{entry.path} changed since it was requested", paths=[entry.path]
                ) from None
            if exc.code in REFUSED_CODES:
                # The probe passed, yet this copy was refused: copy no more, and let the build be
                # tried again (a transient failure), streaming this time.
                with self._lock:
                    self._supported = False
                self._refused(exc)
                raise StorageUnavailable(f"the S3 store refused to copy {entry.path}: {exc.code}") from exc
            raise
