"""The S3 writer: parts uploaded on threads while writing goes on, against the S3 test server."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from minio import Minio

from filegate.storage.minio_internals import MultipartUploads
from filegate.storage.s3_output import S3OutputWriter
from tests.conftest import make_bucket

pytestmark = pytest.mark.s3

PART_SIZE = 5 * 1024 * 1024  # the smallest part S3 accepts


@pytest.fixture
def bucket(s3_client: Minio) -> str:
    return make_bucket(s3_client, f"output-{uuid.uuid4().hex[:12]}")


def _read(client: Minio, bucket: str, key: str) -> bytes:
    response = client.get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


@pytest.mark.parametrize("in_flight", [1, 3])
def test_parts_uploaded_on_threads_make_the_object_in_order(
    s3_client: Minio, bucket: str, in_flight: int
) -> None:
    """Writes of every size, across part boundaries: 7 parts and a tail, whatever finishes first."""
    data = os.urandom(7 * PART_SIZE + 12_345)
    sizes = [1, 70_000, PART_SIZE, 3 * PART_SIZE + 17, 1024 * 1024]
    with ThreadPoolExecutor(in_flight) as uploader:
        writer = S3OutputWriter(s3_client, bucket, "a.zip", PART_SIZE, uploader, in_flight)
        offset, turn = 0, 0
        while offset < len(data):
            size = sizes[turn % len(sizes)]
            writer.write(memoryview(data)[offset : offset + size])
            offset, turn = offset + size, turn + 1
        stored = writer.commit()
    assert (stored.key, stored.size) == ("a.zip", len(data))
    assert _read(s3_client, bucket, "a.zip") == data
    assert list(MultipartUploads(s3_client, bucket).incomplete()) == []


def test_an_output_smaller_than_a_part_is_one_put(s3_client: Minio, bucket: str) -> None:
    with ThreadPoolExecutor(2) as uploader:
        writer = S3OutputWriter(s3_client, bucket, "small.zip", PART_SIZE, uploader, 2)
        writer.write(b"just a little")
        writer.commit()
    assert _read(s3_client, bucket, "small.zip") == b"just a little"
    assert list(MultipartUploads(s3_client, bucket).incomplete()) == []


def test_an_upload_failing_on_its_thread_fails_the_write_and_abort_leaves_nothing(
    s3_client: Minio, bucket: str
) -> None:
    uploads = MultipartUploads(s3_client, bucket)
    with ThreadPoolExecutor(2) as uploader:
        writer = S3OutputWriter(s3_client, bucket, "gone.zip", PART_SIZE, uploader, 2)
        writer.write(os.urandom(PART_SIZE))
        [upload] = list(uploads.incomplete(prefix="gone.zip"))
        uploads.abort("gone.zip", upload.upload_id)  # as the sweeper does to an upload it finds stale
        with pytest.raises(Exception):  # noqa: B017 - moto answers NoSuchUpload or a 500
            for _ in range(4):
                writer.write(os.urandom(PART_SIZE))
            writer.commit()
        writer.abort()
    assert list(uploads.incomplete()) == []
    assert [item.object_name for item in s3_client.list_objects(bucket)] == []
