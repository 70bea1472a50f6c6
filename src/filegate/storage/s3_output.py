"""An archive written into S3 as a multipart upload whose parts go up while the build goes on."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
from concurrent.futures import Executor, Future

from minio import Minio
from minio.datatypes import Part

from filegate.storage.base import OutputWriter, SourceEntry, StorageUnavailable, StoredOutput
from filegate.storage.minio_internals import MultipartUploads
from filegate.storage.s3_copy import MIN_PART_SIZE, ServerCopy, copy_ranges, head_bytes

_READ_BACK_CHUNK = 1024 * 1024


class S3OutputWriter(OutputWriter):
    """Fills a part's buffer and hands it to ``uploader``'s threads, so that uploading a part
    (and the client's SHA-256 of it, for the request's signature) overlaps reading the next.

    At most ``in_flight`` parts are on their way; their buffers are reused once sent, so a build
    holds at most ``in_flight`` + 1 parts in memory. An output smaller than one part is a single
    PUT; on failure the upload is aborted.

    With a ``copier``, a large source can go in as parts the store copies itself (``copy_source``),
    numbered in line with the uploaded ones and sent on the same threads. Every part but the last
    is at least 5 MiB: the bytes ahead of a copy (the entry's header, and as many of its first
    bytes as needed) make an uploaded part of at least 5 MiB, and the copied ranges are of the
    part size, the last one taking the remainder. Such an output's SHA-256 is read back from the
    store once it is complete (StoredOutput.sha256), since the copied bytes never came by.
    """

    def __init__(
        self,
        client: Minio,
        bucket: str,
        key: str,
        part_size: int,
        uploader: Executor,
        in_flight: int,
        copier: ServerCopy | None = None,
    ) -> None:
        self._client = client
        self._uploads = MultipartUploads(client, bucket)
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._uploader = uploader
        self._in_flight = in_flight
        self._buffer = bytearray(part_size)
        self._filled = 0
        self._spare: list[bytearray] = []
        self._sending: collections.deque[tuple[Future[Part], bytearray | None]] = collections.deque()
        self._upload_id: str | None = None
        self._parts: list[Part] = []
        self._size = 0
        self._copier = copier
        self._has_copies = False

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self._size += len(view)
        while view:
            count = min(self._part_size - self._filled, len(view))
            self._buffer[self._filled : self._filled + count] = view[:count]
            self._filled += count
            view = view[count:]
            if self._filled == self._part_size:
                self._send()

    def _send(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._uploads.create(self._key, "application/zip")
        number = len(self._parts) + len(self._sending) + 1
        payload = memoryview(self._buffer)[: self._filled]
        sent = self._uploader.submit(self._uploads.upload_part, self._key, self._upload_id, number, payload)
        self._sending.append((sent, self._buffer))
        self._collect(keep=self._in_flight - 1)
        self._buffer = self._spare.pop() if self._spare else bytearray(self._part_size)
        self._filled = 0

    def _collect(self, keep: int) -> None:
        """Take the parts that are up, oldest first, waiting while more than ``keep`` are not;
        a failed upload raises here."""
        while self._sending and (len(self._sending) > keep or self._sending[0][0].done()):
            sent, buffer = self._sending.popleft()
            self._parts.append(sent.result())
            if buffer is not None:
                self._spare.append(buffer)

    def may_copy(self, source: SourceEntry) -> bool:
        return self._copier is not None and self._copier.may_copy(source)

    def copy_head_bytes(self, source: SourceEntry, first: int) -> int | None:
        if self._copier is None or not self._copier.may_copy(source):
            return None
        head = head_bytes(self._filled, first, self._part_size)
        if source.size - head < MIN_PART_SIZE or not self._copier.is_supported(source):
            return None
        return head

    def copy_source(self, source: SourceEntry, offset: int) -> None:
        if self._copier is None:
            raise RuntimeError("this output copies nothing")
        if 0 < self._filled < MIN_PART_SIZE:
            raise RuntimeError("the part ahead of a copy would be under 5 MiB (see copy_head_bytes)")
        if self._filled:
            self._send()
        if self._upload_id is None:
            self._upload_id = self._uploads.create(self._key, "application/zip")
        for start, end in copy_ranges(offset, source.size, self._part_size):
            number = len(self._parts) + len(self._sending) + 1
            copied = self._uploader.submit(
                self._copier.copy_part, self._key, self._upload_id, number, source, start, end
            )
            self._sending.append((copied, None))
            self._collect(keep=self._in_flight - 1)
        self._size += source.size - offset
        self._has_copies = True

    def commit(self) -> StoredOutput:
        if self._upload_id is None:
            payload = memoryview(self._buffer)[: self._filled]
            self._client.put_object(
                self._bucket, self._key, io.BytesIO(payload), self._filled, content_type="application/zip"
            )
        else:
            if self._filled:
                self._send()
            self._collect(keep=0)
            self._uploads.complete(self._key, self._upload_id, self._parts)
        self._release()
        sha256 = None
        if self._has_copies:
            try:
                sha256 = self._read_back_sha256()
            except BaseException:
                # An output without its SHA-256 is no output: nothing of it stays behind.
                with contextlib.suppress(Exception):
                    self._client.remove_object(self._bucket, self._key)
                raise
        return StoredOutput(key=self._key, size=self._size, sha256=sha256)

    def _read_back_sha256(self) -> str:
        """The SHA-256 of the object as stored, read as a stream (a megabyte at a time)."""
        digest = hashlib.sha256()
        read = 0
        response = self._client.get_object(self._bucket, self._key)
        try:
            for chunk in response.stream(_READ_BACK_CHUNK):
                digest.update(chunk)
                read += len(chunk)
        finally:
            response.close()
            response.release_conn()
        if read != self._size:
            raise StorageUnavailable(f"{self._key} holds {read} bytes where {self._size} were written")
        return digest.hexdigest()

    def abort(self) -> None:
        for sent, _ in self._sending:
            sent.cancel()
        for sent, _ in self._sending:
            with contextlib.suppress(Exception):  # the build has failed already: its reason stands
                sent.result()
        self._sending.clear()
        self._release()
        if self._upload_id is not None:
            # discard_incomplete may have removed it already: abort() takes that as done.
            self._uploads.abort(self._key, self._upload_id)
            self._upload_id = None

    def _release(self) -> None:
        self._buffer = bytearray()
        self._spare.clear()
