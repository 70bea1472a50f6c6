"""The minio client's non-public methods that filegate calls, each against the S3 test server.

A minio release that renames them or changes what they take or give fails here, not in a build.
"""

from __future__ import annotations

import io
import os
import uuid
from datetime import datetime

import pytest
from minio import Minio

from filegate.storage.base import SourceEntry
from filegate.storage.minio_internals import MultipartUploads, list_keys
from filegate.storage.s3_copy import copy_source_headers
from tests.conftest import make_bucket

pytestmark = pytest.mark.s3

MIB = 1024 * 1024


@pytest.fixture
def bucket(s3_client: Minio) -> str:
    return make_bucket(s3_client, f"internals-{uuid.uuid4().hex[:12]}")


def test_a_multipart_upload_completes_into_the_object_of_its_parts(s3_client: Minio, bucket: str) -> None:
    uploads = MultipartUploads(s3_client, bucket)
    first, last = os.urandom(5 * MIB), b"the last part may be small"
    upload_id = uploads.create("out/a.zip", "application/zip")
    parts = [
        uploads.upload_part("out/a.zip", upload_id, 1, memoryview(bytearray(first))),
        uploads.upload_part("out/a.zip", upload_id, 2, last),
    ]
    assert [part.part_number for part in parts] == [1, 2]
    assert all(part.etag for part in parts)
    uploads.complete("out/a.zip", upload_id, parts)

    stored = s3_client.get_object(bucket, "out/a.zip")
    try:
        assert stored.read() == first + last
        assert stored.headers["Content-Type"] == "application/zip"
    finally:
        stored.close()
        stored.release_conn()
    assert list(uploads.incomplete()) == []


def test_a_part_copied_by_the_server_takes_the_range_of_the_source_asked_for(
    s3_client: Minio, bucket: str
) -> None:
    uploads = MultipartUploads(s3_client, bucket)
    source, head = os.urandom(7 * MIB), os.urandom(5 * MIB)
    s3_client.put_object(bucket, "in/source.bin", io.BytesIO(source), len(source))
    upload_id = uploads.create("out/c.zip", "application/zip")
    parts = [
        uploads.upload_part("out/c.zip", upload_id, 1, head),
        uploads.upload_part_copy(
            "out/c.zip",
            upload_id,
            2,
            copy_source_headers(bucket, _pinned(s3_client, bucket)),
            MIB,
            7 * MIB - 2,
        ),
    ]
    assert [part.part_number for part in parts] == [1, 2] and all(part.etag for part in parts)
    uploads.complete("out/c.zip", upload_id, parts)

    stored = s3_client.get_object(bucket, "out/c.zip")
    try:
        assert stored.read() == head + source[MIB : 7 * MIB - 1]
    finally:
        stored.close()
        stored.release_conn()


def _pinned(client: Minio, bucket: str) -> SourceEntry:
    """in/source.bin pinned by its ETag (the bucket keeps no versions)."""
    found = client.stat_object(bucket, "in/source.bin")
    return SourceEntry("in/source.bin", False, found.size or 0, datetime.now(), (found.etag or "").strip('"'))


def test_an_aborted_upload_is_gone_and_aborting_it_again_is_no_error(s3_client: Minio, bucket: str) -> None:
    uploads = MultipartUploads(s3_client, bucket)
    upload_id = uploads.create("out/b.zip", "application/zip")
    uploads.upload_part("out/b.zip", upload_id, 1, b"some bytes")

    [listed] = uploads.incomplete(prefix="out/b")
    assert (listed.key, listed.upload_id) == ("out/b.zip", upload_id)
    # A time with its zone (moto's server gives every upload one fixed date in 2010).
    assert isinstance(listed.initiated_at, datetime) and listed.initiated_at.tzinfo is not None

    uploads.abort("out/b.zip", upload_id)
    assert list(uploads.incomplete(prefix="out/b")) == []
    uploads.abort("out/b.zip", upload_id)


def test_incomplete_uploads_are_all_listed_across_pages(s3_client: Minio, bucket: str) -> None:
    """Two uploads of one key, so that a page may end between them."""
    uploads = MultipartUploads(s3_client, bucket)
    begun = {(key, uploads.create(key, "application/zip")) for key in ("p/1", "p/1", "p/2", "p/3", "q/4")}

    listed = [(upload.key, upload.upload_id) for upload in uploads.incomplete(prefix="p/", per_page=2)]
    assert sorted(listed) == sorted(pair for pair in begun if pair[0].startswith("p/"))
    everything = {(upload.key, upload.upload_id) for upload in uploads.incomplete(per_page=1)}
    assert everything == begun


def test_list_keys_gives_one_folder_level_after_a_key(s3_client: Minio, bucket: str) -> None:
    for key in ("f/a.txt", "f/b.txt", "f/sub/c.txt", "f/sub/d/e.txt", "g.txt"):
        s3_client.put_object(bucket, key, io.BytesIO(b"x"), 1)

    names = [item.object_name for item in list_keys(s3_client, bucket, "f/", None, 1)]
    assert names == ["f/a.txt", "f/b.txt", "f/sub/"]
    after = [item.object_name for item in list_keys(s3_client, bucket, "f/", "f/a.txt", 1000)]
    assert after == ["f/b.txt", "f/sub/"]
