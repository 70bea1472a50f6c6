"""Server-side copy against the S3 test server, through a proxy that notes every request: a large
stored file whose CRC-32 is known goes into the archive as parts the server copies, and only its
first bytes pass through the builder; the archive is byte for byte the one a build streaming
the same file writes, and its SHA-256 is the stored object's. A store refusing UploadPartCopy is
asked once, and files stream."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import ENABLED
from minio.error import S3Error
from minio.versioningconfig import VersioningConfig

from filegate.archive.builder import KnownCrcs, build_parts
from filegate.archive.crc_cache import crcs_before_build
from filegate.archive.parts import PlannedPart, plan_parts
from filegate.archive.record import Part
from filegate.snapshot.paths import normalise_paths
from filegate.snapshot.service import SnapshotLimits, take_snapshot
from filegate.storage.base import SourceEntry
from filegate.storage.s3 import S3Storage, make_client
from filegate.storage.s3_copy import MIN_PART_SIZE
from tests.conftest import make_bucket
from tests.readers import check_java_stream, check_java_zipfile, check_unzip, check_zipfile
from tests.s3_proxy import S3Proxy, s3_proxy

pytestmark = pytest.mark.s3

MIB = 1024 * 1024
PART_SIZE = 5 * MIB
COPY_FROM = 10 * MIB
LIMITS = SnapshotLimits(max_files=1000, max_total_size=10**9)


@pytest.fixture(scope="module")
def buckets(s3_client: Minio) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    source = make_bucket(s3_client, f"copy-sources-{tag}")
    s3_client.set_bucket_versioning(source, VersioningConfig(ENABLED))
    return source, make_bucket(s3_client, f"copy-outputs-{tag}")


@pytest.fixture(scope="module")
def sources(s3_client: Minio, buckets: tuple[str, str]) -> dict[str, bytes]:
    """Two large files with small ones around them, in one folder."""
    files = {
        "set/a film é+.bin": os.urandom(22 * MIB + 12_345),
        "set/b-notes.txt": b"a line that repeats\n" * 20_000,
        "set/c-film.bin": os.urandom(11 * MIB + 7),
        "set/d-small.bin": os.urandom(70_000),
    }
    for key, data in files.items():
        s3_client.put_object(buckets[0], key, io.BytesIO(data), len(data), part_size=PART_SIZE)
    return files


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[S3Proxy]:
    with s3_proxy(s3_endpoint) as running:
        yield running


def _storage(url: str, buckets: tuple[str, str], copies: bool) -> S3Storage:
    client = make_client(url, "testing", "testing", "us-east-1")
    return S3Storage(
        client,
        client,
        buckets[0],
        buckets[1],
        PART_SIZE,
        upload_concurrency=3,
        small_files_fetched_ahead=2,
        server_copy_min_size=COPY_FROM if copies else None,
    )


def _plan(storage: S3Storage) -> list[PlannedPart]:
    return plan_parts(take_snapshot(storage, normalise_paths(["set/"]), LIMITS), None)


def _build(storage: S3Storage, plan: list[PlannedPart], key_prefix: str, crcs: KnownCrcs) -> Part:
    [part, _] = build_parts(storage, plan, "holiday", key_prefix, "auto", lambda _: None, crcs=crcs)
    return part


def _download(client: Minio, bucket: str, key: str, tmp_path: Path) -> bytes:
    response = client.get_object(bucket, key)
    try:
        data = response.read()
    finally:
        response.close()
        response.release_conn()
    (tmp_path / key.replace("/", "-")).write_bytes(data)
    return data


def _known(storage: S3Storage, plan: list[PlannedPart], prefix: str) -> dict[SourceEntry, int]:
    """The CRC-32s a first, streaming build computes."""
    crcs = KnownCrcs()
    _build(storage, plan, prefix, crcs)
    return crcs.found


def test_a_large_stored_file_with_a_known_crc_is_copied_by_the_server(
    s3_client: Minio,
    s3_endpoint: str,
    buckets: tuple[str, str],
    sources: dict[str, bytes],
    proxy: S3Proxy,
    tmp_path: Path,
) -> None:
    streaming = _storage(s3_endpoint, buckets, copies=False)
    plan = _plan(streaming)
    found = _known(streaming, plan, "first")
    assert set(found) == {e.source for e in plan[0].entries if e.source.size >= MIB}
    streamed = _build(streaming, plan, "streamed", KnownCrcs(before=dict(found)))

    copied = _build(_storage(proxy.url, buckets, copies=True), plan, "copied", KnownCrcs(before=dict(found)))

    data = _download(s3_client, buckets[1], copied.key, tmp_path)
    assert data == _download(s3_client, buckets[1], streamed.key, tmp_path)
    assert (copied.size, copied.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    path = tmp_path / copied.key.replace("/", "-")
    expected = {"set/": b"", **sources}
    check_zipfile(path, expected)
    check_unzip(path, expected)
    check_java_stream(path, expected)
    check_java_zipfile(path, expected)
    # Of each large file only ranges were read: at most the part ahead of its copy (5 MiB and a
    # chunk); the small ones whole. The rest the server copied, in ranges of at least 5 MiB.
    for key in ("set/a film é+.bin", "set/c-film.bin"):
        reads = [r for r in proxy.object_reads(buckets[0]) if r.path == f"/{buckets[0]}/{key}"]
        assert reads and all(r.range_bytes() is not None for r in reads)
        assert sum(r.range_bytes() or 0 for r in reads) <= MIN_PART_SIZE + MIB
    sizes = [_range_size(r.headers["x-amz-copy-source-range"]) for r in proxy.copies()]
    assert len(sizes) >= 3 and all(size >= MIN_PART_SIZE for size in sizes if size > 1)
    # The probe (one byte, into an upload aborted at once), then only real parts.
    assert sizes.count(1) == 1 and sizes[0] == 1


def _range_size(header: str) -> int:
    start, _, end = header.removeprefix("bytes=").partition("-")
    return int(end) - int(start) + 1


def test_a_store_refusing_copies_is_asked_once_and_files_stream(
    s3_client: Minio,
    s3_endpoint: str,
    buckets: tuple[str, str],
    sources: dict[str, bytes],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    streaming = _storage(s3_endpoint, buckets, copies=False)
    plan = _plan(streaming)
    found = _known(streaming, plan, "first-refused")
    streamed = _build(streaming, plan, "streamed-refused", KnownCrcs(before=dict(found)))

    with s3_proxy(s3_endpoint, refuse_copies=True) as refusing, caplog.at_level(logging.WARNING):
        storage = _storage(refusing.url, buckets, copies=True)
        parts = [_build(storage, plan, f"refused-{n}", KnownCrcs(before=dict(found))) for n in range(2)]
        assert len(refusing.copies()) == 1  # the probe, once for both builds
        full_reads = [r for r in refusing.object_reads(buckets[0]) if r.path.endswith("a film é+.bin")]

    expected = _download(s3_client, buckets[1], streamed.key, tmp_path)
    for part in parts:
        data = _download(s3_client, buckets[1], part.key, tmp_path)
        assert data == expected and part.sha256 == hashlib.sha256(data).hexdigest()
    # Streamed whole in both builds: the first in two ranges around the refused probe, the second
    # (the store known to refuse) in one read.
    size = len(sources["set/a film é+.bin"])
    assert [r.range_bytes() or size for r in full_reads] == [MIB, size - MIB, size]
    assert sum("refused a server-side copy" in record.message for record in caplog.records) == 1


def test_a_part_whose_sha256_cannot_be_read_back_fails_and_leaves_nothing(
    s3_endpoint: str, s3_client: Minio, buckets: tuple[str, str], sources: dict[str, bytes], proxy: S3Proxy
) -> None:
    streaming = _storage(s3_endpoint, buckets, copies=False)
    plan = _plan(streaming)
    found = _known(streaming, plan, "first-unread")
    proxy.refuse_reads_under = f"/{buckets[1]}/unread/"

    with pytest.raises(S3Error, match="AccessDenied"):
        _build(_storage(proxy.url, buckets, copies=True), plan, "unread", KnownCrcs(before=dict(found)))

    assert list(s3_client.list_objects(buckets[1], prefix="unread/", recursive=True)) == []
    assert proxy.copies()  # it got as far as copying


def test_a_file_stored_with_its_own_crc_is_copied_in_its_first_build(
    s3_client: Minio, buckets: tuple[str, str], proxy: S3Proxy, tmp_path: Path
) -> None:
    data = os.urandom(12 * MIB + 1)
    checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    headers = {"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-checksum-crc32": checksum}
    # One PUT (a part size past the file's size): its CRC-32 is the whole file's.
    s3_client.put_object(
        buckets[0], "own/film.bin", io.BytesIO(data), len(data), metadata=headers, part_size=16 * MIB
    )
    storage = _storage(proxy.url, buckets, copies=True)
    plan = plan_parts(take_snapshot(storage, normalise_paths(["own/"]), LIMITS), None)

    crcs = KnownCrcs(before=crcs_before_build(storage, plan, cache=None))
    part = _build(storage, plan, "own", crcs)

    assert list(crcs.before.values()) == [zlib.crc32(data)]
    # Its first MiB, then what makes the first part (two folder and file headers ahead) 5 MiB.
    reads = [r.range_bytes() or 0 for r in proxy.object_reads(buckets[0])]
    assert len(reads) == 2 and reads[0] == MIB and MIN_PART_SIZE - 200 < sum(reads) < MIN_PART_SIZE
    downloaded = _download(s3_client, buckets[1], part.key, tmp_path)
    check_zipfile(tmp_path / part.key.replace("/", "-"), {"own/": b"", "own/film.bin": data})
    assert part.sha256 == hashlib.sha256(downloaded).hexdigest()


def test_the_stores_own_full_object_crc_is_taken_where_it_keeps_one(
    s3_client: Minio, s3_endpoint: str, buckets: tuple[str, str]
) -> None:
    data = os.urandom(1000)
    crc = zlib.crc32(data)
    checksum = base64.b64encode(crc.to_bytes(4, "big")).decode()
    headers = {"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-checksum-crc32": checksum}
    s3_client.put_object(buckets[0], "crc/with.bin", io.BytesIO(data), len(data), metadata=headers)
    s3_client.put_object(buckets[0], "crc/without.bin", io.BytesIO(data), len(data))
    storage = _storage(s3_endpoint, buckets, copies=True)
    with_crc, without = (storage.stat(f"crc/{name}.bin") for name in ("with", "without"))
    assert with_crc is not None and without is not None

    assert (storage.stored_crc32(with_crc), storage.stored_crc32(without)) == (crc, None)


def test_the_stores_crcs_of_several_large_files_are_asked_once_each(
    s3_client: Minio, buckets: tuple[str, str], proxy: S3Proxy
) -> None:
    files = {f"many/{n}.bin": os.urandom(COPY_FROM + n) for n in range(3)}
    for n, (path, data) in enumerate(files.items()):
        checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        own = {"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-checksum-crc32": checksum}
        s3_client.put_object(
            buckets[0], path, io.BytesIO(data), len(data), metadata=own if n else None, part_size=16 * MIB
        )
    storage = _storage(proxy.url, buckets, copies=True)
    plan = plan_parts(take_snapshot(storage, normalise_paths(["many/"]), LIMITS), None)
    proxy.requests.clear()

    known = crcs_before_build(storage, plan, cache=None)

    assert {source.path: crc for source, crc in known.items()} == {
        path: zlib.crc32(data) for n, (path, data) in enumerate(files.items()) if n
    }
    heads = sorted(r.path for r in proxy.requests if r.method == "HEAD")
    assert heads == [f"/{buckets[0]}/{path}" for path in sorted(files)]
