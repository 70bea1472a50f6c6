"""A ticket as stored in Redis: one hash of text fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from filegate.archive.record import ArchiveOptions, Part
from filegate.state.states import TicketStatus


@dataclass(slots=True)
class TicketRecord:
    ticket_id: str
    status: TicketStatus
    options: ArchiveOptions
    created_at: datetime
    expires_at: datetime
    file_count: int
    total_size: int
    parts: list[Part] = field(default_factory=list)
    error: str | None = None
    progress: dict[str, Any] | None = None
    build_id: str | None = None
    """The build this ticket holds; None for a file linked directly."""
    owner: str = ""
    """The principal that created it (see auth/principal.py); only it may see the ticket."""
    position: dict[str, Any] | None = None
    """While queued: its place in the queue and why it waits."""
    callback_url: str | None = None
    """Where a webhook goes when the ticket reaches a final state (webhooks/)."""

    def to_redis(self) -> dict[str, str]:
        fields = {
            "status": self.status.value,
            "options": json.dumps(self.options.to_dict()),
            "created_at": repr(self.created_at.timestamp()),
            "expires_at": repr(self.expires_at.timestamp()),
            "file_count": str(self.file_count),
            "total_size": str(self.total_size),
            "owner": self.owner,
        }
        if self.callback_url:
            fields["callback_url"] = self.callback_url
        if self.parts:
            fields["parts"] = json.dumps([part.to_dict() for part in self.parts])
        return fields

    @classmethod
    def from_redis(cls, ticket_id: str, fields: dict[str, str]) -> TicketRecord:
        options = json.loads(fields["options"])
        return cls(
            ticket_id=ticket_id,
            status=TicketStatus(fields["status"]),
            options=ArchiveOptions(**options),
            created_at=datetime.fromtimestamp(float(fields["created_at"]), UTC),
            expires_at=datetime.fromtimestamp(float(fields["expires_at"]), UTC),
            file_count=int(fields["file_count"]),
            total_size=int(fields["total_size"]),
            parts=[Part(**part) for part in json.loads(fields.get("parts", "[]"))],
            error=fields.get("error"),
            progress=json.loads(fields["progress"]) if "progress" in fields else None,
            build_id=fields.get("build_id"),
            owner=fields.get("owner", ""),
            position=json.loads(fields["position"]) if "position" in fields else None,
            callback_url=fields.get("callback_url"),
        )

    @property
    def is_expired(self) -> bool:
        return datetime.now(UTC) >= self.expires_at

    def public_state(self) -> dict[str, Any]:
        """What status and result show: never storage keys."""
        state: dict[str, Any] = {
            "ticket_id": self.ticket_id,
            "status": self.status.value,
            "name": self.options.name,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "file_count": self.file_count,
            "total_size": self.total_size,
        }
        if self.position is not None and self.status is TicketStatus.QUEUED:
            state["position"] = self.position
        if self.progress is not None:
            state["progress"] = self.progress
        if self.error is not None:
            state["error"] = self.error
        return state
