"""The manifest: every entry of the archive-to-be with the source version it is pinned to."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from filegate.storage.base import SourceEntry


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    name: str
    """The entry's name in the archive; folders end with '/'."""
    source: SourceEntry


@dataclass(frozen=True, slots=True)
class Manifest:
    entries: list[ManifestEntry]

    @property
    def file_count(self) -> int:
        return sum(1 for entry in self.entries if not entry.source.is_dir)

    @property
    def total_size(self) -> int:
        return sum(entry.source.size for entry in self.entries)

    def to_json(self) -> str:
        rows = [
            [
                entry.name,
                entry.source.path,
                entry.source.is_dir,
                entry.source.size,
                entry.source.modified.timestamp(),
                entry.source.version,
                entry.source.version_id,
            ]
            for entry in self.entries
        ]
        return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        entries = [
            ManifestEntry(
                name=name,
                source=SourceEntry(
                    path=path,
                    is_dir=is_dir,
                    size=size,
                    modified=datetime.fromtimestamp(modified, UTC),
                    version=version,
                    version_id=version_id,
                ),
            )
            for name, path, is_dir, size, modified, version, version_id in json.loads(text)
        ]
        return cls(entries=entries)


def fingerprint_of(manifest_json: str, options: dict[str, object]) -> str:
    """A hash of every pinned entry (``Manifest.to_json``, which the caller stores too) and the
    archive options: equal means the same archive."""
    digest = hashlib.sha256(manifest_json.encode())
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()
