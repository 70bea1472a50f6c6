"""One contract for every store: the local filesystem and S3 (moto's server over real HTTP).

Each test runs against fresh folders or fresh buckets, so tests never see each other's files.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import SUSPENDED, VersioningConfig

from filegate.storage.base import (
    FolderEntry,
    FolderNotFound,
    FolderPage,
    FolderPosition,
    ListingPhase,
    NotAFolder,
    PathEscapesRoot,
    SourceChanged,
    SourceEntry,
    Storage,
    StorageUnavailable,
)
from filegate.storage.disposition import content_disposition
from filegate.storage.local import PARTIAL_SUFFIX, LocalStorage
from filegate.storage.s3 import S3Storage, make_client
from filegate.storage.signing import is_valid_signature
from tests.conftest import make_bucket
from tests.services import free_port
from tests.sources import LocalSources, S3Sources

PART_SIZE = 5 * 1024 * 1024  # the smallest part S3 accepts
SIGNING_SECRET = "contract-signing-secret"
LOCAL_PUBLIC_URL = "https://files.example.com"
S3_PUBLIC_ENDPOINT = "https://downloads.example.com"
REGION = "us-east-1"


def fresh_bucket(client: Minio) -> str:
    return make_bucket(client, f"contract-{uuid.uuid4().hex[:16]}")


def blob(size: int, seed: int = 0) -> bytes:
    """Bytes that differ at every offset from another seed's, so a mix-up shows."""
    pattern = bytes((seed * 7 + i * 31) % 251 for i in range(251))
    return (pattern * (size // len(pattern) + 1))[:size]


@dataclass
class Store:
    """A store under test with the means to put sources in and look at outputs behind its back."""

    kind: str
    storage: Storage
    sources: LocalSources | S3Sources

    @property
    def root(self) -> Path:
        """The source folder of a local store."""
        assert isinstance(self.sources, LocalSources)
        return self.sources.root

    def put(self, path: str, data: bytes, modified: datetime | None = None) -> None:
        self.sources.put(path, data, modified)

    def mkdir(self, path: str) -> None:
        self.sources.mkdir(path)

    def delete(self, path: str) -> None:
        self.sources.delete(path)

    def read_output(self, key: str) -> bytes:
        storage = self.storage
        if isinstance(storage, LocalStorage):
            return storage.output_path(key).read_bytes()
        assert isinstance(self.sources, S3Sources) and isinstance(storage, S3Storage)
        response = self.sources.client.get_object(storage.output_bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def output_files(self) -> list[str]:
        """Every file or object of the output store, whole or partial."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            found = (path for path in storage.output_dir.rglob("*") if not path.is_dir())
            return sorted(str(path.relative_to(storage.output_dir)) for path in found)
        assert isinstance(self.sources, S3Sources) and isinstance(storage, S3Storage)
        objects = self.sources.client.list_objects(storage.output_bucket, recursive=True)
        return sorted(item.object_name or "" for item in objects)

    def leftovers(self) -> list[str]:
        """What unfinished writes left: partial files, or open multipart uploads."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            return [name for name in self.output_files() if name.endswith(PARTIAL_SUFFIX)]
        assert isinstance(self.sources, S3Sources) and isinstance(storage, S3Storage)
        listing = self.sources.client._list_multipart_uploads(storage.output_bucket)
        return sorted(upload.object_name or "" for upload in listing.uploads)


def local_store(home: Path) -> Store:
    (home / "files").mkdir(parents=True)
    storage = LocalStorage(
        root=home / "files",
        output_dir=home / "archives",
        public_url=LOCAL_PUBLIC_URL,
        signing_secret=SIGNING_SECRET,
    )
    storage.prepare()
    return Store("local", storage, LocalSources(home / "files"))


def s3_store(client: Minio, public_endpoint: str = S3_PUBLIC_ENDPOINT) -> Store:
    source_bucket = fresh_bucket(client)
    output_bucket = fresh_bucket(client)
    storage = S3Storage(
        client=client,
        public_client=make_client(public_endpoint, "testing", "testing", REGION),
        source_bucket=source_bucket,
        output_bucket=output_bucket,
        part_size=PART_SIZE,
    )
    return Store("s3", storage, S3Sources(client, source_bucket))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return local_store(tmp_path)
    client: Minio = request.getfixturevalue("s3_client")
    return s3_store(client)


@pytest.fixture
def local(tmp_path: Path) -> Store:
    return local_store(tmp_path / "store")


@pytest.fixture
def s3(s3_client: Minio) -> Store:
    return s3_store(s3_client)


def read_all(storage: Storage, entry: SourceEntry) -> bytes:
    with storage.open_source(entry) as stream:
        data = b"".join(iter(lambda: stream.read(4096), b""))
        stream.verify()
    return data


def must_stat(storage: Storage, path: str) -> SourceEntry:
    entry = storage.stat(path)
    assert entry is not None, f"{path} should exist"
    return entry


# --- stat -----------------------------------------------------------------------------------------


def test_stat_describes_a_file(store: Store) -> None:
    store.put("docs/report.txt", b"quarterly numbers")

    entry = must_stat(store.storage, "docs/report.txt")

    assert entry.path == "docs/report.txt"
    assert not entry.is_dir
    assert entry.size == len(b"quarterly numbers")
    assert entry.version
    assert entry.modified.tzinfo is not None
    assert abs(entry.modified - datetime.now(UTC)) < timedelta(minutes=5)


def test_stat_describes_a_folder(store: Store) -> None:
    store.put("docs/deep/report.txt", b"x")

    for path in ("docs", "docs/deep"):
        entry = must_stat(store.storage, path)
        assert entry.is_dir
        assert entry.path == path
        assert entry.modified.tzinfo is not None


def test_stat_finds_an_empty_folder(store: Store) -> None:
    store.mkdir("empty")

    assert must_stat(store.storage, "empty").is_dir


@pytest.mark.parametrize("path", ["missing.txt", "docs/missing.txt", "missing/deeper", "docs/a.txt/inside"])
def test_stat_of_a_missing_path_is_none(store: Store, path: str) -> None:
    store.put("docs/a.txt", b"a")

    assert store.storage.stat(path) is None


def test_a_folder_name_is_not_a_prefix_match(store: Store) -> None:
    store.put("docs-old/a.txt", b"a")

    assert store.storage.stat("docs") is None


# --- walk -----------------------------------------------------------------------------------------

TREE = {
    "top/a/b.txt": b"ab",
    "top/a-b/x.txt": b"x",  # '-' and '.' sort before '/': the order S3 lists keys in differs by name
    "top/a.txt": b"a",
    "top/z/deep/er/f.bin": b"f" * 300,
    "top/m.txt": b"",
    "outside.txt": b"not in top",
    "top-sibling/y.txt": b"y",
}


def put_tree(store: Store) -> None:
    for path, data in TREE.items():
        store.put(path, data)
    store.mkdir("top/empty")


def test_walk_yields_every_folder_and_file_depth_first_in_name_order(store: Store) -> None:
    put_tree(store)

    walked = [(entry.path, entry.is_dir) for entry in store.storage.walk("top")]

    # Each folder comes right before its own subtree; siblings are in the order of their
    # names, a folder's name counting with its trailing '/' (the order S3 lists keys in).
    assert walked == [
        ("top/a-b", True),
        ("top/a-b/x.txt", False),
        ("top/a.txt", False),
        ("top/a", True),
        ("top/a/b.txt", False),
        ("top/empty", True),
        ("top/m.txt", False),
        ("top/z", True),
        ("top/z/deep", True),
        ("top/z/deep/er", True),
        ("top/z/deep/er/f.bin", False),
    ]


def test_walk_of_the_root_yields_paths_relative_to_the_root(store: Store) -> None:
    put_tree(store)

    walked = {entry.path for entry in store.storage.walk("")}

    assert set(TREE) <= walked
    assert {"top", "top/empty", "top-sibling", "top/z/deep/er"} <= walked
    assert not any(path.startswith("/") or path.endswith("/") for path in walked)


def test_walk_entries_carry_sizes_and_read_back_their_bytes(store: Store) -> None:
    put_tree(store)

    files = {entry.path: entry for entry in store.storage.walk("top") if not entry.is_dir}

    assert {path: entry.size for path, entry in files.items()} == {
        path: len(data) for path, data in TREE.items() if path.startswith("top/")
    }
    for path, entry in files.items():
        assert entry.version
        assert entry.modified.tzinfo is not None
        assert read_all(store.storage, entry) == TREE[path]


def test_walk_and_stat_pin_the_same_version(store: Store) -> None:
    put_tree(store)

    for entry in store.storage.walk("top"):
        if not entry.is_dir:
            assert must_stat(store.storage, entry.path).version == entry.version


@pytest.mark.parametrize("folder", ["missing", "top/a.txt"])
def test_walk_below_a_missing_folder_or_a_file_yields_nothing(store: Store, folder: str) -> None:
    put_tree(store)

    assert list(store.storage.walk(folder)) == []


@pytest.mark.parametrize("folder", ["top", "top/z", "top/empty", ""])
def test_folder_tree_is_the_folder_as_stat_tells_it_and_what_walk_finds_below(
    store: Store, folder: str
) -> None:
    put_tree(store)

    tree = store.storage.folder_tree(folder)

    assert tree is not None
    entry, below = tree
    stat = must_stat(store.storage, folder) if folder else None
    assert (entry.path, entry.is_dir) == (folder, True)
    if stat is not None:
        assert (entry.path, entry.is_dir, entry.size, entry.version) == (stat.path, True, 0, stat.version)
    assert [(e.path, e.is_dir, e.size, e.version) for e in below] == [
        (e.path, e.is_dir, e.size, e.version) for e in store.storage.walk(folder)
    ]


@pytest.mark.parametrize("folder", ["missing", "top/a.txt", "top/a.tx", "to"])
def test_folder_tree_of_a_missing_folder_or_a_file_is_none(store: Store, folder: str) -> None:
    put_tree(store)

    assert store.storage.folder_tree(folder) is None


# --- open_source ----------------------------------------------------------------------------------


def test_open_source_reads_exactly_the_bytes(store: Store) -> None:
    data = blob(3 * 1024 * 1024 + 17)
    store.put("big.bin", data)
    entry = must_stat(store.storage, "big.bin")

    assert read_all(store.storage, entry) == data

    buffer = bytearray(1 << 20)
    received = bytearray()
    with store.storage.open_source(entry) as stream:
        while count := stream.readinto(buffer):
            received += buffer[:count]
        stream.verify()
    assert received == data


def test_changed_source_is_refused(store: Store) -> None:
    store.put("notes.txt", b"first draft")
    entry = must_stat(store.storage, "notes.txt")
    store.put("notes.txt", b"second, longer draft")

    with pytest.raises(SourceChanged) as caught:
        store.storage.open_source(entry)
    assert caught.value.extra["paths"] == ["notes.txt"]


def test_same_size_rewrite_is_refused(store: Store) -> None:
    store.put("notes.txt", b"draft A")
    entry = must_stat(store.storage, "notes.txt")
    # A later modification time, as any writer leaves (local files are pinned by size, mtime
    # and inode; S3 objects by ETag or version).
    store.put("notes.txt", b"draft B", modified=entry.modified + timedelta(seconds=2))

    with pytest.raises(SourceChanged):
        store.storage.open_source(entry)


def test_deleted_source_is_refused(store: Store) -> None:
    store.put("gone.txt", b"soon gone")
    entry = must_stat(store.storage, "gone.txt")
    store.delete("gone.txt")

    with pytest.raises(SourceChanged):
        store.storage.open_source(entry)


def test_source_replaced_by_a_folder_is_refused(store: Store) -> None:
    store.put("thing", b"a file for now")
    entry = must_stat(store.storage, "thing")
    store.delete("thing")
    store.put("thing/inside.txt", b"now a folder")

    with pytest.raises(SourceChanged):
        store.storage.open_source(entry)


def test_unchanged_source_stays_readable_after_its_neighbours_change(store: Store) -> None:
    store.put("keep.txt", b"steady")
    entry = must_stat(store.storage, "keep.txt")
    store.put("other.txt", b"changed")
    store.delete("other.txt")

    assert read_all(store.storage, entry) == b"steady"


def test_file_changed_while_read_fails_verification(local: Store) -> None:
    local.put("growing.log", b"line 1\n" * 1000)
    entry = must_stat(local.storage, "growing.log")

    with local.storage.open_source(entry) as stream:
        assert stream.read(100) == (b"line 1\n" * 1000)[:100]
        with open(local.root / "growing.log", "ab") as appender:
            appender.write(b"line 2\n")
        stream.read(1 << 20)
        with pytest.raises(SourceChanged):
            stream.verify()


def test_file_replaced_while_read_fails_verification(local: Store) -> None:
    root = local.root
    local.put("doc.txt", b"original")
    entry = must_stat(local.storage, "doc.txt")

    with local.storage.open_source(entry) as stream:
        (root / "doc.new").write_bytes(b"replaced")
        os.replace(root / "doc.new", root / "doc.txt")  # same size, new inode
        assert stream.read(100) == b"original"
        with pytest.raises(SourceChanged):
            stream.verify()


# --- versions on S3 -------------------------------------------------------------------------------


def versioned_store(client: Minio) -> Store:
    store = s3_store(client)
    assert isinstance(store.storage, S3Storage)
    client.set_bucket_versioning(store.storage.source_bucket, VersioningConfig(ENABLED))
    return store


@pytest.mark.s3
def test_versioned_source_pinned_earlier_reads_the_old_bytes(s3_client: Minio) -> None:
    store = versioned_store(s3_client)
    store.put("folder/report.txt", b"version one")
    stated = must_stat(store.storage, "folder/report.txt")
    [walked] = [entry for entry in store.storage.walk("folder") if not entry.is_dir]
    store.put("folder/report.txt", b"version two, longer")

    assert stated.version_id
    assert walked.version_id == stated.version_id
    assert read_all(store.storage, stated) == b"version one"
    assert read_all(store.storage, walked) == b"version one"
    assert read_all(store.storage, must_stat(store.storage, "folder/report.txt")) == b"version two, longer"


@pytest.mark.s3
def test_versioned_walk_lists_only_current_objects(s3_client: Minio) -> None:
    store = versioned_store(s3_client)
    store.put("f/kept.txt", b"one")
    store.put("f/kept.txt", b"two!")
    store.put("f/removed.txt", b"bye")
    store.put("f/gone/only.txt", b"bye")
    store.delete("f/removed.txt")
    store.delete("f/gone/only.txt")

    walked = [(entry.path, entry.size) for entry in store.storage.walk("f")]

    assert walked == [("f/kept.txt", 4)]
    assert store.storage.stat("f/removed.txt") is None
    assert store.storage.stat("f/gone") is None


@pytest.mark.s3
def test_null_version_pin_refuses_an_overwritten_object(s3_client: Minio) -> None:
    # An object written before versioning was enabled has the version id "null", and while
    # versioning is suspended every write replaces that "null" version: it pins nothing.
    store = s3_store(s3_client)
    assert isinstance(store.storage, S3Storage)
    bucket = store.storage.source_bucket
    store.put("legacy.txt", b"from before versioning")
    s3_client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    [entry] = list(store.storage.walk(""))
    s3_client.set_bucket_versioning(bucket, VersioningConfig(SUSPENDED))
    store.put("legacy.txt", b"written while suspended")

    with pytest.raises(SourceChanged):
        store.storage.open_source(entry)


@pytest.mark.s3
def test_null_version_pin_reads_an_unchanged_object(s3_client: Minio) -> None:
    store = s3_store(s3_client)
    assert isinstance(store.storage, S3Storage)
    store.put("legacy.txt", b"from before versioning")
    s3_client.set_bucket_versioning(store.storage.source_bucket, VersioningConfig(ENABLED))
    [entry] = list(store.storage.walk(""))

    assert read_all(store.storage, entry) == b"from before versioning"


# --- outputs --------------------------------------------------------------------------------------


def test_large_output_is_written_in_parts_and_reads_back(store: Store) -> None:
    chunks = [blob(1_000_003, seed) for seed in range(13)]  # ~12.4 MB: three parts of 5 MiB
    key = "build-1/archive.zip"

    writer = store.storage.create_output(key)
    for index, chunk in enumerate(chunks):
        writer.write(memoryview(chunk) if index % 2 else chunk)
    stored = writer.commit()

    expected = b"".join(chunks)
    assert stored.key == key
    assert stored.size == len(expected)
    assert store.read_output(key) == expected
    assert store.storage.output_exists(key)
    assert store.output_files() == [key]
    assert store.leftovers() == []
    if isinstance(store.storage, S3Storage):
        assert isinstance(store.sources, S3Sources)
        etag = store.sources.client.stat_object(store.storage.output_bucket, key).etag
        assert etag is not None and etag.endswith("-3")  # a multipart upload of three parts


def test_output_of_exactly_whole_parts_reads_back(store: Store) -> None:
    data = blob(2 * PART_SIZE, seed=5)

    with store.storage.create_output("exact.zip") as writer:
        writer.write(data[:PART_SIZE])
        writer.write(data[PART_SIZE:])
        assert writer.commit().size == len(data)

    assert store.read_output("exact.zip") == data


@pytest.mark.parametrize("data", [b"PK small archive", b""])
def test_small_output_is_written_in_one_piece(store: Store, data: bytes) -> None:
    with store.storage.create_output("small/one.zip") as writer:
        writer.write(data)
        stored = writer.commit()

    assert stored.size == len(data)
    assert store.read_output("small/one.zip") == data
    assert store.storage.output_exists("small/one.zip")


def test_committing_an_existing_key_replaces_it(store: Store) -> None:
    for data in (b"first build", b"second"):
        with store.storage.create_output("t/again.zip") as writer:
            writer.write(data)
            writer.commit()

    assert store.read_output("t/again.zip") == b"second"


def test_deleted_output_is_gone(store: Store) -> None:
    with store.storage.create_output("t1/archive.zip") as writer:
        writer.write(b"zip bytes")
        writer.commit()
    assert store.storage.output_exists("t1/archive.zip")

    store.storage.delete_output("t1/archive.zip")

    assert not store.storage.output_exists("t1/archive.zip")
    store.storage.delete_output("t1/archive.zip")  # deleting twice is harmless
    assert not store.storage.output_exists("t1/archive.zip")


def test_deleting_the_last_output_keeps_the_store_usable(store: Store) -> None:
    with store.storage.create_output("top-level.zip") as writer:
        writer.write(b"zip bytes")
        writer.commit()

    store.storage.delete_output("top-level.zip")

    assert not store.storage.output_exists("top-level.zip")
    store.storage.check()


def test_missing_output_does_not_exist(store: Store) -> None:
    assert not store.storage.output_exists("never/written.zip")


@pytest.mark.parametrize("size", [100, PART_SIZE + 1234])
def test_aborted_output_leaves_nothing(store: Store, size: int) -> None:
    writer = store.storage.create_output("t2/archive.zip")
    writer.write(blob(size))
    if size > PART_SIZE:
        assert store.leftovers(), "a part should be on its way before abort"

    writer.abort()

    assert not store.storage.output_exists("t2/archive.zip")
    assert store.output_files() == []
    assert store.leftovers() == []


def test_exception_inside_writer_context_aborts(store: Store) -> None:
    with pytest.raises(RuntimeError, match="source went away"), store.storage.create_output("t3/x.zip") as w:
        w.write(blob(PART_SIZE + 1))
        raise RuntimeError("source went away")

    assert not store.storage.output_exists("t3/x.zip")
    assert store.output_files() == []
    assert store.leftovers() == []


def test_discard_incomplete_removes_an_interrupted_write_and_only_that(store: Store) -> None:
    interrupted = store.storage.create_output("t4/a.zip")
    interrupted.write(blob(PART_SIZE + 10))
    neighbour = store.storage.create_output("t4/a.zip.1")
    neighbour.write(blob(PART_SIZE + 20, seed=2))

    store.storage.discard_incomplete("t4/a.zip")

    assert not store.storage.output_exists("t4/a.zip")
    [left] = store.leftovers()  # the neighbour's partial file or upload
    assert "a.zip.1" in left
    interrupted.abort()  # the worker that wrote it may still abort: harmless now
    neighbour.write(b"tail")
    neighbour.commit()
    assert store.read_output("t4/a.zip.1") == blob(PART_SIZE + 20, seed=2) + b"tail"


# --- links ----------------------------------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query, strict_parsing=True).items()}


@pytest.mark.parametrize("name", ["archive.zip", "Fotos – Été 2024 東京.zip"])
def test_local_link_is_signed_on_the_public_url(local: Store, name: str) -> None:
    key = "ticket-1/archive.zip"
    expires_at = datetime.now(UTC) + timedelta(hours=6)

    url = local.storage.output_link(key, name, expires_at, "ticket-1")

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == LOCAL_PUBLIC_URL
    assert parts.path == f"/files/{quote(key)}"
    query = query_of(url)
    assert query["name"] == name
    assert int(query["expires"]) == int(expires_at.timestamp())
    assert query["ticket"] == "ticket-1"
    expires = int(query["expires"])
    assert is_valid_signature(SIGNING_SECRET, key, name, expires, "ticket-1", query["sig"])
    assert not is_valid_signature(SIGNING_SECRET, key, name, expires + 1, "ticket-1", query["sig"])
    assert not is_valid_signature(SIGNING_SECRET, key, f"x{name}", expires, "ticket-1", query["sig"])
    assert not is_valid_signature(SIGNING_SECRET, key, name, expires, "ticket-2", query["sig"])


def amz_expiry(url: str) -> tuple[datetime, int]:
    query = query_of(url)
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed_at, int(query["X-Amz-Expires"])


@pytest.mark.s3
@pytest.mark.parametrize("name", ["archive.zip", "Fotos – Été 2024 東京.zip", 'quote" and \\ slash.zip'])
def test_s3_link_is_presigned_for_the_public_endpoint(s3: Store, name: str) -> None:
    assert isinstance(s3.storage, S3Storage)
    expires_at = datetime.now(UTC) + timedelta(hours=2, seconds=0.5)

    url = s3.storage.output_link("ticket-2/archive.zip", name, expires_at, "ticket-2")

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "downloads.example.com")
    assert parts.path == f"/{s3.storage.output_bucket}/ticket-2/archive.zip"
    query = query_of(url)
    assert query["X-Amz-Signature"]
    signed_at, lifetime = amz_expiry(url)
    assert abs(signed_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert int(signed_at.timestamp()) + lifetime == int(expires_at.timestamp())
    disposition = query["response-content-disposition"]
    assert disposition == content_disposition(name)
    assert disposition.startswith("attachment; filename=")
    if not name.isascii():
        assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    assert query["response-content-type"] == "application/zip"


@pytest.mark.s3
@pytest.mark.parametrize("lifetime", [timedelta(days=30), timedelta(days=7, hours=1)])
def test_s3_link_lifetime_is_capped_at_seven_days(s3: Store, lifetime: timedelta) -> None:
    url = s3.storage.output_link("k/a.zip", "a.zip", datetime.now(UTC) + lifetime, "ticket-k")

    assert amz_expiry(url)[1] == 604800


@pytest.mark.s3
def test_s3_link_downloads_the_output_with_its_file_name(s3_client: Minio, s3_endpoint: str) -> None:
    store = s3_store(s3_client, public_endpoint=s3_endpoint)
    data = blob(PART_SIZE + 99, seed=9)
    with store.storage.create_output("ticket-3/archive.zip") as writer:
        writer.write(data)
        writer.commit()
    name = "Rapport annuel – 2024.zip"

    url = store.storage.output_link(
        "ticket-3/archive.zip", name, datetime.now(UTC) + timedelta(minutes=10), "ticket-3"
    )
    response = httpx.get(url)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-disposition"] == content_disposition(name)
    assert response.headers["content-type"] == "application/zip"


# --- path safety (local) --------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside" / "deep"
    folder.mkdir(parents=True)
    (folder / "secret.txt").write_bytes(b"secret")
    (tmp_path / "outside" / "secret.txt").write_bytes(b"secret")
    return folder


@pytest.mark.parametrize(
    "path",
    ["escape", "escape/secret.txt", "inner/link/../secret.txt", "../outside/secret.txt", "/etc/passwd"],
)
def test_path_escaping_the_root_is_refused(local: Store, outside: Path, path: str) -> None:
    root = local.root
    (root / "inner").mkdir()
    os.symlink(outside, root / "escape")
    os.symlink(outside, root / "inner" / "link")

    with pytest.raises(PathEscapesRoot):
        local.storage.stat(path)


def test_walk_refuses_a_symlink_leading_out_of_the_root(local: Store, outside: Path) -> None:
    local.put("folder/fine.txt", b"fine")
    os.symlink(outside / "secret.txt", local.root / "folder" / "leak.txt")

    with pytest.raises(PathEscapesRoot):
        list(local.storage.walk("folder"))


def test_open_source_refuses_an_entry_whose_path_now_leaves_the_root(local: Store, outside: Path) -> None:
    local.put("swap.txt", b"secret")
    entry = must_stat(local.storage, "swap.txt")
    local.delete("swap.txt")
    os.symlink(outside / "secret.txt", local.root / "swap.txt")

    # The pin (device, inode, size, mtime) names the file that was listed: another file at
    # that path, inside the root or out, is refused before a byte is read.
    with pytest.raises(SourceChanged):
        local.storage.open_source(entry)


def test_symlink_to_a_file_inside_the_root_is_followed(local: Store) -> None:
    root = local.root
    local.put("data/real.txt", b"the real bytes")
    local.mkdir("links")
    os.symlink(root / "data" / "real.txt", root / "links" / "alias.txt")

    stated = must_stat(local.storage, "links/alias.txt")
    walked = list(local.storage.walk("links"))

    assert (stated.is_dir, stated.size) == (False, len(b"the real bytes"))
    assert [(entry.path, entry.size) for entry in walked] == [("links/alias.txt", len(b"the real bytes"))]
    assert read_all(local.storage, walked[0]) == b"the real bytes"


def test_symlinked_folder_inside_the_root_is_not_walked_into(local: Store) -> None:
    root = local.root
    local.put("loop/file.txt", b"x")
    os.symlink(root / "loop", root / "loop" / "again")

    assert [entry.path for entry in local.storage.walk("loop")] == ["loop/file.txt"]


@pytest.mark.parametrize("key", ["../escape.zip", "a/../../escape.zip", "/etc/escape.zip", "", "."])
def test_output_key_leading_out_of_the_output_folder_is_refused(local: Store, key: str) -> None:
    assert isinstance(local.storage, LocalStorage)
    with pytest.raises(PathEscapesRoot):
        local.storage.output_path(key)
    with pytest.raises(PathEscapesRoot):
        local.storage.create_output(key)
    assert not (local.storage.output_dir.parent / "escape.zip").exists()


# --- check and prepare ----------------------------------------------------------------------------


def test_check_passes_on_a_ready_store(store: Store) -> None:
    store.storage.check()


def test_local_check_fails_without_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "missing", tmp_path / "out", LOCAL_PUBLIC_URL, SIGNING_SECRET)
    storage.prepare()

    with pytest.raises(StorageUnavailable):
        storage.check()


@pytest.mark.s3
@pytest.mark.parametrize("missing", ["source", "output"])
def test_s3_check_fails_on_a_missing_bucket(s3_client: Minio, missing: str) -> None:
    present = fresh_bucket(s3_client)
    absent = f"contract-missing-{uuid.uuid4().hex[:8]}"
    storage = S3Storage(
        client=s3_client,
        public_client=s3_client,
        source_bucket=absent if missing == "source" else present,
        output_bucket=absent if missing == "output" else present,
        part_size=PART_SIZE,
    )

    with pytest.raises(StorageUnavailable):
        storage.check()


@pytest.mark.s3
def test_s3_prepare_creates_the_output_bucket(s3_client: Minio) -> None:
    output_bucket = f"contract-out-{uuid.uuid4().hex[:8]}"
    storage = S3Storage(s3_client, s3_client, fresh_bucket(s3_client), output_bucket, PART_SIZE)

    storage.prepare()

    storage.check()
    assert s3_client.bucket_exists(output_bucket)


@pytest.mark.s3
def test_s3_check_fails_when_the_server_is_unreachable() -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}", "testing", "testing", REGION)
    storage = S3Storage(client, client, "sources", "outputs", PART_SIZE)

    with pytest.raises(StorageUnavailable):
        storage.check()


def test_each_test_gets_an_empty_store(store: Store) -> None:
    assert list(store.storage.walk("")) == []
    assert store.output_files() == []
    assert store.leftovers() == []


# --- list_folder and child_entries ----------------------------------------------------------------

TOP_LISTED = [("a-b", True), ("a", True), ("empty", True), ("z", True), ("a.txt", False), ("m.txt", False)]
"""``top`` of TREE as a listing shows it: folders first, by name with a trailing '/', then files."""


def list_all(storage: Storage, folder: str, limit: int) -> list[list[FolderEntry]]:
    """Every page of ``folder``, following each page's ``next``."""
    pages = [storage.list_folder(folder, None, limit)]
    while pages[-1].next is not None:
        pages.append(storage.list_folder(folder, pages[-1].next, limit))
        assert len(pages) < 50
    return [page.entries for page in pages]


@pytest.mark.parametrize("limit", [1, 2, 4, 6, 100])
def test_list_folder_pages_hold_folders_then_files_once_each(store: Store, limit: int) -> None:
    put_tree(store)

    pages = list_all(store.storage, "top", limit)

    assert [(entry.name, entry.is_dir) for page in pages for entry in page] == TOP_LISTED
    assert all(len(page) == limit for page in pages[:-1]) and 0 < len(pages[-1]) <= limit
    assert all(entry.path == f"top/{entry.name}" for page in pages for entry in page)


def test_list_folder_entries_carry_what_a_listing_shows(store: Store) -> None:
    put_tree(store)

    entries = {entry.name: entry for entry in store.storage.list_folder("top/z/deep/er", None, 10).entries}
    folders = store.storage.list_folder("top/z", None, 10).entries

    file = entries["f.bin"]
    assert (file.path, file.is_dir, file.size) == ("top/z/deep/er/f.bin", False, 300)
    assert file.version and file.modified is not None
    assert abs(file.modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert [(entry.path, entry.is_dir, entry.size, entry.version) for entry in folders] == [
        ("top/z/deep", True, None, None)
    ]


def test_list_folder_after_the_last_folder_starts_the_files(store: Store) -> None:
    put_tree(store)

    first = store.storage.list_folder("top", None, 4)

    # Every folder is on the first page: the next one starts at the files.
    assert first.next == FolderPosition(ListingPhase.FILES, "")
    assert [entry.name for entry in store.storage.list_folder("top", first.next, 4).entries] == [
        "a.txt",
        "m.txt",
    ]


@pytest.mark.parametrize(
    ("after", "names"),
    [
        (FolderPosition(ListingPhase.FOLDERS, "a"), ["empty", "z", "a.txt", "m.txt"]),
        (FolderPosition(ListingPhase.FOLDERS, "b-gone"), ["empty", "z", "a.txt", "m.txt"]),
        (FolderPosition(ListingPhase.FOLDERS, "zz"), ["a.txt", "m.txt"]),
        (FolderPosition(ListingPhase.FILES, "a.txt"), ["m.txt"]),
        (FolderPosition(ListingPhase.FILES, "b"), ["m.txt"]),
        (FolderPosition(ListingPhase.FILES, "m.txt"), []),
    ],
)
def test_list_folder_starts_right_after_a_position_present_or_not(
    store: Store, after: FolderPosition, names: list[str]
) -> None:
    put_tree(store)

    page = store.storage.list_folder("top", after, 10)

    assert [entry.name for entry in page.entries] == names
    assert page.next is None


def test_list_folder_of_the_root_and_of_an_empty_folder(store: Store) -> None:
    put_tree(store)

    root = store.storage.list_folder("", None, 100)
    empty = store.storage.list_folder("top/empty", None, 100)

    assert [(entry.path, entry.is_dir) for entry in root.entries] == [
        ("top-sibling", True),
        ("top", True),
        ("outside.txt", False),
    ]
    assert empty == FolderPage([], None)


def test_list_folder_refuses_a_file_and_a_missing_folder(store: Store) -> None:
    put_tree(store)

    with pytest.raises(NotAFolder) as refused:
        store.storage.list_folder("top/a.txt", None, 10)
    assert refused.value.extra == {"paths": ["top/a.txt"]}
    for missing in ("missing", "top/a.txt/inside", "top/z/nope", "x" * 300, "y" * 5000):
        with pytest.raises(FolderNotFound):
            store.storage.list_folder(missing, None, 10)
        with pytest.raises(FolderNotFound):
            store.storage.list_folder(missing, FolderPosition(ListingPhase.FILES, "a"), 10)


def test_list_folder_leaves_out_names_no_path_can_name(store: Store) -> None:
    store.put("odd/ok.txt", b"x")
    if isinstance(store.sources, S3Sources):
        store.put("odd//empty-name", b"x")  # the prefix "odd//": a folder without a name
    else:
        (store.root / "odd" / os.fsdecode(b"\xff-not-utf8")).write_bytes(b"x")

    assert [entry.name for entry in store.storage.list_folder("odd", None, 10).entries] == ["ok.txt"]


def test_child_entries_find_the_named_children_only(store: Store) -> None:
    put_tree(store)

    found = store.storage.child_entries("top", ["z", "a.txt", "missing", "empty", "x" * 300])

    assert sorted((entry.path, entry.is_dir) for entry in found) == [
        ("top/a.txt", False),
        ("top/empty", True),
        ("top/z", True),
    ]
    assert store.storage.child_entries("nowhere", ["a"]) == []
    assert store.storage.child_entries("top/a.txt", ["a"]) == []


def test_local_listing_follows_links_to_files_inside_the_root_only(local: Store, tmp_path: Path) -> None:
    local.put("top/real.txt", b"real")
    local.mkdir("top/sub")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (tmp_path / "secret").mkdir()
    links = {
        "to-file": local.root / "top" / "real.txt",
        "to-folder": local.root / "top" / "sub",
        "out-file": tmp_path / "secret.txt",
        "out-folder": tmp_path / "secret",
        "dangling": local.root / "top" / "nothing",
    }
    for name, target in links.items():
        os.symlink(target, local.root / "top" / name)
    os.mkfifo(local.root / "top" / "fifo")

    page = local.storage.list_folder("top", None, 10)
    found = local.storage.child_entries("top", [*links, "fifo"])

    listed = [(entry.name, entry.is_dir, entry.size) for entry in page.entries]
    assert listed == [("sub", True, None), ("real.txt", False, 4), ("to-file", False, 4)]
    assert [(entry.name, entry.is_dir) for entry in found] == [("to-file", False)]
    with pytest.raises(PathEscapesRoot):
        local.storage.list_folder("top/out-folder", None, 10)


@pytest.mark.s3
def test_s3_listing_shows_markers_as_folders_and_hides_deleted_keys(s3: Store, s3_client: Minio) -> None:
    assert isinstance(s3.storage, S3Storage)
    s3_client.set_bucket_versioning(s3.storage.source_bucket, VersioningConfig(ENABLED))
    s3.mkdir("top")
    s3.mkdir("top/empty")
    s3.put("top/kept.txt", b"k")
    s3.put("top/deleted.txt", b"d")
    s3.delete("top/deleted.txt")  # a delete marker on top of its version

    page = s3.storage.list_folder("top", None, 10)

    assert [(entry.name, entry.is_dir) for entry in page.entries] == [("empty", True), ("kept.txt", False)]
    assert page.entries[1].version == page.entries[1].version.strip('"')
    assert s3.storage.list_folder("top/empty", None, 10) == FolderPage([], None)
    with pytest.raises(FolderNotFound):
        s3.storage.list_folder("top/deleted.txt", None, 10)
