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
