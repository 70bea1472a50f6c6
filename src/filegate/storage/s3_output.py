"""An archive written into S3 as a multipart upload whose parts go up while the build goes on."""

from __future__ import annotations

import collections
import contextlib
import io
from concurrent.futures import Executor, Future

from minio import Minio
from minio.datatypes import Part

from filegate.storage.base import OutputWriter, StoredOutput
from filegate.storage.minio_internals import MultipartUploads


class S3OutputWriter(OutputWriter):
    """Fills a part's buffer and hands it to ``uploader``'s threads, so that uploading a part
    (and the client's SHA-256 of it, for the request's signature) overlaps reading the next.

    At most ``in_flight`` parts are on their way; their buffers are reused once sent, so a build
    holds at most ``in_flight`` + 1 parts in memory. An output smaller than one part is a single
    PUT; on failure the upload is aborted.
    """

    def __init__(
        self, client: Minio, bucket: str, key: str, part_size: int, uploader: Executor, in_flight: int
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
        self._sending: collections.deque[tuple[Future[Part], bytearray]] = collections.deque()
        self._upload_id: str | None = None
        self._parts: list[Part] = []
        self._size = 0

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
            self._spare.append(buffer)

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
        return StoredOutput(key=self._key, size=self._size)

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
