"""What an archive is made of, as stored in Redis: its options, its parts, its build."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from filegate.state.states import BuildStatus


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    key: str
    size: int
    sha256: str
    oversized: bool = False
    """One file larger than the split size, alone in this part."""
    source_version: str | None = None
    """Set for a single file linked directly (no ZIP): ``key`` is then its source path."""
    source_version_id: str | None = None
    role: str = "part"
    """'part' (a ZIP, or the file itself), or 'manifest' (the list of parts and entries)."""

    @property
    def is_direct(self) -> bool:
        return self.source_version is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "oversized": self.oversized,
            "source_version": self.source_version,
            "source_version_id": self.source_version_id,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    name: str
    """The download's base name, without extension."""
    compression: str
    split_size: int | None = None
    """Largest part in bytes; None for one ZIP."""
    on_change: str = "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "compression": self.compression,
            "split_size": self.split_size,
            "on_change": self.on_change,
        }


@dataclass(frozen=True, slots=True)
class BuildRecord:
    build_id: str
    status: BuildStatus
    fingerprint: str
    expires_at: datetime
    options: ArchiveOptions
    parts: list[Part]
    queued_at: datetime | None = None

    @classmethod
    def from_redis(cls, build_id: str, fields: dict[str, str]) -> BuildRecord:
        return cls(
            build_id=build_id,
            status=BuildStatus(fields["status"]),
            fingerprint=fields["fingerprint"],
            expires_at=datetime.fromtimestamp(float(fields["expires_at"]), UTC),
            options=ArchiveOptions(**json.loads(fields["options"])),
            parts=[Part(**part) for part in json.loads(fields.get("parts", "[]"))],
            queued_at=datetime.fromtimestamp(int(fields["queued_at"]) / 1000, UTC)
            if fields.get("queued_at")
            else None,
        )
