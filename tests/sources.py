"""Putting fixture files into a store the way its users would: files on disk, or objects over S3."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path

from minio import Minio


class LocalSources:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, path: str, data: bytes, modified: datetime | None = None) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if modified is not None:
            stamp = modified.timestamp()
            os.utime(target, (stamp, stamp))

    def mkdir(self, path: str) -> None:
        (self.root / path).mkdir(parents=True, exist_ok=True)

    def delete(self, path: str) -> None:
        (self.root / path).unlink()


class S3Sources:
    kind = "s3"

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, path: str, data: bytes, modified: datetime | None = None) -> None:
        # S3 sets Last-Modified itself; ``modified`` only applies to local files.
        self.client.put_object(self.bucket, path, io.BytesIO(data), len(data))

    def mkdir(self, path: str) -> None:
        # S3 has no folders: an empty one is a zero-byte object whose key ends with '/'.
        self.client.put_object(self.bucket, f"{path.rstrip('/')}/", io.BytesIO(b""), 0)

    def delete(self, path: str) -> None:
        self.client.remove_object(self.bucket, path)


def now() -> datetime:
    return datetime.now(UTC)


SPLIT_SET_EDGE_BYTES = 3 * 1024 * 1024


def put_split_set(sources: LocalSources | S3Sources, root: str, middle_bytes: int) -> dict[str, bytes | None]:
    """Three files under ``root`` that a split of 8 MB puts in three parts: 3 MiB of random
    bytes, a middle file of ``middle_bytes`` that takes a while to build (sparse on the local
    store, so all zeros and no disk; random over S3), and 3 MiB again. Values are the bytes,
    None for a sparse file."""
    first, last = os.urandom(SPLIT_SET_EDGE_BYTES), os.urandom(SPLIT_SET_EDGE_BYTES)
    sources.put(f"{root}/a.bin", first)
    sources.put(f"{root}/c.bin", last)
    middle: bytes | None = None
    if isinstance(sources, LocalSources):
        with (sources.root / root / "b.bin").open("wb") as sparse:
            sparse.truncate(middle_bytes)
    else:
        middle = os.urandom(middle_bytes)
        sources.put(f"{root}/b.bin", middle)
    return {f"{root}/a.bin": first, f"{root}/b.bin": middle, f"{root}/c.bin": last}
