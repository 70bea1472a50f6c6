"""The CRC-32 cache on the real Redis: what a build computed is known to the next build of the same
pinned sources, which stores a large file as it is with its CRC-32 in its header; a CRC-32 that
does not match the bytes never reaches an archive."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from filegate.archive.builder import KnownCrcs, build_parts
from filegate.archive.crc_cache import CrcCache
from filegate.archive.parts import plan_parts
from filegate.state import keys
from filegate.state.states import BuildStatus
from filegate.storage.local import LocalStorage
from tests.integration.archive.local_store import put, snapshot
from tests.integration.wiring import Services
from tests.readers import check_java_stream, check_unzip, check_zipfile

DATABASE = 51
MIB = 1024 * 1024


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_url}/{DATABASE}", decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    (tmp_path / "files").mkdir()
    store = LocalStorage(tmp_path / "files", tmp_path / "archives", "http://127.0.0.1:1", "secret")
    store.prepare()
    return store


def test_remembered_crcs_are_read_back_in_one_go_and_expire(
    client: redis.Redis, storage: LocalStorage
) -> None:
    put(storage, "a.bin", b"a")
    put(storage, "b.bin", b"b")
    a, b = (entry.source for entry in snapshot(storage, "a.bin", "b.bin").entries)
    cache = CrcCache(client, ttl_seconds=120)

    cache.remember(storage, {a: 0xDEADBEEF})

    assert cache.known(storage, [a, b]) == {a: 0xDEADBEEF}
    [key] = client.keys(f"{keys.PREFIX}crc:*")
    assert 0 < client.ttl(key) <= 120
    client.set(key, "not a number")
    assert cache.known(storage, [a, b]) == {}


def test_a_file_whose_crc_is_known_is_stored_with_it_in_its_header(
    storage: LocalStorage, tmp_path: Path
) -> None:
    data = put(storage, "big/film.bin", os.urandom(3 * MIB + 5))
    plan = plan_parts(snapshot(storage, "big/"), None)
    first = KnownCrcs()
    build_parts(storage, plan, "first", "build-1", "store", lambda _: None, crcs=first)
    [(source, crc)] = first.found.items()

    second = KnownCrcs(before={source: crc})
    [part, _] = build_parts(storage, plan, "second", "build-2", "store", lambda _: None, crcs=second)

    path = storage.output_path(part.key)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("big/film.bin")
    assert (info.compress_type, info.flag_bits & 0x08, info.CRC) == (zipfile.ZIP_STORED, 0, crc)
    expected = {"big/": b"", "big/film.bin": data}
    check_zipfile(path, expected)
    check_unzip(path, expected)
    check_java_stream(path, expected)


def test_a_crc_that_does_not_match_the_bytes_makes_the_part_written_again_without_it(
    storage: LocalStorage,
) -> None:
    data = put(storage, "big/film.bin", os.urandom(2 * MIB))
    plan = plan_parts(snapshot(storage, "big/"), None)
    [entry] = [entry for entry in plan[0].entries if not entry.source.is_dir]
    crcs = KnownCrcs(before={entry.source: 12345})

    [part, _] = build_parts(storage, plan, "holiday", "build-1", "store", lambda _: None, crcs=crcs)

    path = storage.output_path(part.key)
    check_zipfile(path, {"big/": b"", "big/film.bin": data})
    assert crcs.before == {} and crcs.found[entry.source] != 12345


async def test_a_second_build_of_the_same_files_knows_their_crcs(services: Services) -> None:
    data = services.put_random("big/film.bin", 2 * MIB)
    first = services.build_id(await services.request(["big/"], name="first", compression="store"))
    assert services.run_build(first) is BuildStatus.READY
    second = services.build_id(await services.request(["big/"], name="second", compression="store"))

    assert services.run_build(second) is BuildStatus.READY

    kinds = []
    for build_id, name in ((first, "first"), (second, "second")):
        path = services.storage.output_dir / build_id / f"{name}.zip"
        check_zipfile(path, {"big/": b"", "big/film.bin": data})
        with zipfile.ZipFile(path) as archive:
            kinds.append(archive.getinfo("big/film.bin").compress_type)
    # The first streamed it as deflate of stored blocks (no CRC-32 known), the second stored it.
    assert kinds == [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]
