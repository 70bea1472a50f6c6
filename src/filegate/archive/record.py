"""What an archive is made of, as stored in Redis: its options, its parts, its build."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
class CommittedPart:
    """A part of a build still running, committed to the output store and listed in Redis: it
    can be downloaded now, and a build delivered again after its worker died starts after it."""

    number: int
    """From 1."""
    parts_total: int
    part: Part
    changes: dict[str, str] = field(default_factory=dict)
    """Its entries written as they were at build time ('changed') or left out ('deleted')."""
    entries: str | None = None
    """The part's entries as written (Manifest JSON), when a change made them differ from the plan."""

    def to_json(self) -> str:
        record: dict[str, Any] = {
            "number": self.number,
            "parts_total": self.parts_total,
            "part": self.part.to_dict(),
        }
        if self.changes:
            record["changes"] = self.changes
        if self.entries is not None:
            record["entries"] = self.entries
        return json.dumps(record, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> CommittedPart:
        record = json.loads(text)
        return cls(
            number=record["number"],
            parts_total=record["parts_total"],
            part=Part(**record["part"]),
            changes=record.get("changes", {}),
            entries=record.get("entries"),
        )

    def event(self) -> dict[str, Any]:
        """What the ``part_ready`` event tells (the link comes from the ticket's result)."""
        return {
            "part": self.number,
            "parts_total": self.parts_total,
            "name": self.part.name,
            "size": self.part.size,
            "sha256": self.part.sha256,
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
