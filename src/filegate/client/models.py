"""Typed answers of the API: tickets, their state and events, results and parts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FINAL_STATUSES = frozenset({"ready", "failed", "cancelled", "expired"})


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    percent: float
    part: int
    parts_total: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        return cls(
            files_done=int(data.get("files_done", 0)),
            files_total=int(data.get("files_total", 0)),
            bytes_done=int(data.get("bytes_done", 0)),
            bytes_total=int(data.get("bytes_total", 0)),
            percent=float(data.get("percent", 0.0)),
            part=int(data.get("part", 0)),
            parts_total=int(data.get("parts_total", 0)),
        )


@dataclass(frozen=True)
class Ticket:
    """The answer to POST /download."""

    ticket_id: str
    status: str
    name: str
    file_count: int
    total_size: int
    created_at: datetime | None
    expires_at: datetime | None
    status_url: str
    result_url: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ticket:
        return cls(
            ticket_id=str(data["ticket_id"]),
            status=str(data["status"]),
            name=str(data.get("name", "")),
            file_count=int(data.get("file_count", 0)),
            total_size=int(data.get("total_size", 0)),
            created_at=_time(data.get("created_at")),
            expires_at=_time(data.get("expires_at")),
            status_url=str(data.get("status_url", "")),
            result_url=str(data.get("result_url", "")),
        )


@dataclass(frozen=True)
class TicketState:
    """A ticket's state once (GET /ticket/{id}/status as JSON, DELETE /ticket/{id})."""

    ticket_id: str
    status: str
    name: str
    file_count: int
    total_size: int
    created_at: datetime | None
    expires_at: datetime | None
    progress: Progress | None
    position: int | None
    error: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TicketState:
        progress = data.get("progress")
        position = data.get("position")
        if isinstance(position, dict):
            position = position.get("position")
        return cls(
            ticket_id=str(data["ticket_id"]),
            status=str(data["status"]),
            name=str(data.get("name", "")),
            file_count=int(data.get("file_count", 0)),
            total_size=int(data.get("total_size", 0)),
            created_at=_time(data.get("created_at")),
            expires_at=_time(data.get("expires_at")),
            progress=Progress.from_json(progress) if isinstance(progress, dict) else None,
            position=None if position is None else int(position),
            error=None if data.get("error") is None else str(data["error"]),
            raw=data,
        )


@dataclass(frozen=True)
class Event:
    """One event of a ticket's stream: ``status``, ``position``, ``progress`` or ``part_ready``."""

    id: str | None
    name: str
    data: dict[str, Any]

    @classmethod
    def parse(cls, event_id: str | None, name: str, data: str) -> Event:
        try:
            decoded = json.loads(data) if data else {}
        except json.JSONDecodeError:
            decoded = {"text": data}
        return cls(event_id, name, decoded if isinstance(decoded, dict) else {"value": decoded})

    @property
    def status(self) -> str | None:
        """The new status of a ``status`` event."""
        return str(self.data["status"]) if self.name == "status" and "status" in self.data else None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def progress(self) -> Progress | None:
        return Progress.from_json(self.data) if self.name == "progress" else None


@dataclass(frozen=True)
class Part:
    """One downloadable file of a result: a ZIP part, or the file itself for a direct link."""

    name: str
    size: int
    sha256: str | None
    url: str
    expires_at: datetime | None
    oversized: bool
    number: int = 1
    """From 1 (a manifest has none: 0)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        sha256 = data.get("sha256")
        return cls(
            name=str(data["name"]),
            size=int(data["size"]),
            sha256=None if sha256 is None else str(sha256),
            url=str(data["url"]),
            expires_at=_time(data.get("expires_at")),
            oversized=bool(data.get("oversized", False)),
            number=int(data.get("part", 0)),
        )


@dataclass(frozen=True)
class Result:
    """A ticket's parts ready to download, and its manifest unless a single file is linked
    directly. While the ticket is still preparing (``is_partial``), the parts committed so far;
    ``pending`` names the others."""

    ticket_id: str
    name: str
    parts: tuple[Part, ...]
    manifest: Part | None
    expires_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    is_partial: bool = False
    pending: tuple[str, ...] = ()

    @property
    def total_size(self) -> int:
        """Bytes to download: every part together."""
        return sum(part.size for part in self.parts)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        manifest = data.get("manifest")
        return cls(
            ticket_id=str(data["ticket_id"]),
            name=str(data.get("name", "")),
            parts=tuple(Part.from_json(part) for part in data.get("parts", [])),
            manifest=Part.from_json(manifest) if isinstance(manifest, dict) else None,
            expires_at=_time(data.get("expires_at")),
            raw=data,
            is_partial=bool(data.get("partial", False)),
            pending=tuple(str(part["name"]) for part in data.get("pending", [])),
        )
