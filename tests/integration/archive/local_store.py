"""Sources on the local store for the builder's tests: a file put below its root, a snapshot."""

from __future__ import annotations

from pathlib import Path

from filegate.snapshot.manifest import Manifest
from filegate.snapshot.paths import normalise_paths
from filegate.snapshot.service import SnapshotLimits, take_snapshot
from filegate.storage.local import LocalStorage

LIMITS = SnapshotLimits(max_files=1000, max_total_size=10**9)


def put(storage: LocalStorage, path: str, data: bytes) -> bytes:
    target = Path(storage.root) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return data


def snapshot(storage: LocalStorage, *paths: str) -> Manifest:
    return take_snapshot(storage, normalise_paths(list(paths)), LIMITS)
