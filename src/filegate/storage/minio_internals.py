"""The one place that calls methods of the minio client that are not its public API.

- Multipart uploads (``_create_multipart_upload`` and its siblings): the public ``put_object``
  does multipart uploads too, but only by pulling from a stream, so an archive written by
  pushing bytes would need a thread and a pipe in between.
- ``_upload_part_copy``: the public ``compose_object`` copies whole ranges into an object of its
  own, never into an upload that also receives uploaded parts.
- ``_list_objects``: the public ``list_objects`` always asks for 1,000 keys per request, and a
  page of a folder listing often needs far fewer.

Their names and arguments are the same from minio 7.2.0 to 7.2.20 (the oldest and newest
releases the tests ran with); tests/integration/storage/test_minio_internals.py calls each of
them against the S3 test server, and pyproject.toml keeps minio below 8.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from minio import Minio
from minio.datatypes import Object, Part
from minio.error import S3Error

_MAX_UPLOADS_PER_PAGE = 1000


@dataclass(frozen=True)
class IncompleteUpload:
    key: str
    upload_id: str
    initiated_at: datetime | None


class MultipartUploads:
    """Multipart uploads into one bucket."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def create(self, key: str, content_type: str) -> str:
        """A new upload's id."""
        upload_id: str = self._client._create_multipart_upload(
            self._bucket, key, {"Content-Type": content_type}
        )
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | memoryview) -> Part:
        # Typed as bytes, but the client only measures, hashes and sends the body, which any
        # bytes-like object allows: a part's buffer goes up without a copy (the contract test
        # sends a memoryview).
        etag: str = self._client._upload_part(self._bucket, key, cast(bytes, data), None, upload_id, number)
        return Part(number, etag)

    def upload_part_copy(
        self, key: str, upload_id: str, number: int, copy_source: dict[str, str], start: int, end: int
    ) -> Part:
        """Part ``number`` copied by the store from bytes ``start`` to ``end`` (inclusive) of the
        object ``copy_source`` names (its x-amz-copy-source headers)."""
        headers: dict[str, str | list[str] | tuple[str]] = {
            **copy_source,
            "x-amz-copy-source-range": f"bytes={start}-{end}",
        }
        etag, _ = self._client._upload_part_copy(self._bucket, key, upload_id, number, headers)
        return Part(number, etag)

    def complete(self, key: str, upload_id: str, parts: list[Part]) -> None:
        self._client._complete_multipart_upload(self._bucket, key, upload_id, parts)

    def abort(self, key: str, upload_id: str) -> None:
        """Gives the upload up; one already gone (aborted elsewhere, or completed) is no error."""
        try:
            self._client._abort_multipart_upload(self._bucket, key, upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    def incomplete(
        self, prefix: str = "", per_page: int = _MAX_UPLOADS_PER_PAGE
    ) -> Iterator[IncompleteUpload]:
        """Every upload begun and neither completed nor aborted under ``prefix``, asking for
        ``per_page`` at a time."""
        key_marker: str | None = None
        upload_id_marker: str | None = None
        while True:
            page = self._client._list_multipart_uploads(
                self._bucket,
                prefix=prefix or None,
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
                max_uploads=per_page,
            )
            for upload in page.uploads:
                if upload.upload_id:
                    yield IncompleteUpload(upload.object_name, upload.upload_id, upload.initiated_time)
            if not page.is_truncated or not page.uploads:
                return
            # The next page starts after the last upload seen: the client's own next_upload_id_marker
            # is never filled in (7.2.x stores it under a wrong attribute name).
            key_marker, upload_id_marker = page.uploads[-1].object_name, page.uploads[-1].upload_id


def list_keys(
    client: Minio, bucket: str, prefix: str, start_after: str | None, keys_per_request: int
) -> Iterator[Object]:
    """The objects and common prefixes right below ``prefix`` (delimiter '/'), after
    ``start_after``, asking the server for ``keys_per_request`` keys at a time."""
    objects: Iterator[Object] = client._list_objects(
        bucket,
        delimiter="/",
        encoding_type="url",
        prefix=prefix,
        start_after=start_after,
        max_keys=keys_per_request,
    )
    return objects
