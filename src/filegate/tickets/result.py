"""What a ready ticket's result shows: its parts with sizes, digests and links (GET /ticket/{id}/result
answers it, and a ready ticket's webhook carries it)."""

from __future__ import annotations

from typing import Any

from filegate.archive.record import Part
from filegate.storage.base import SourceEntry, Storage
from filegate.tickets.record import TicketRecord


def part_link(storage: Storage, part: Part, record: TicketRecord) -> str:
    """The part's download link, valid until the ticket expires (blocking on S3: it is signed)."""
    if not part.is_direct:
        return storage.output_link(part.key, part.name, record.expires_at, record.ticket_id)
    entry = SourceEntry(
        path=part.key,
        is_dir=False,
        size=part.size,
        modified=record.created_at,
        version=part.source_version or "",
        version_id=part.source_version_id,
    )
    return storage.source_link(entry, part.name, record.expires_at, record.ticket_id)


def result_body(record: TicketRecord, links: list[str]) -> dict[str, Any]:
    """The ticket's state with its parts and manifest; ``links`` has one link per part, in order."""
    expires_at = record.expires_at.isoformat()
    parts = []
    manifest = None
    for part, url in zip(record.parts, links, strict=True):
        shown = {
            "name": part.name,
            "size": part.size,
            # A file linked directly was never read: its digest is not known.
            "sha256": part.sha256 or None,
            "url": url,
            "expires_at": expires_at,
        }
        if part.role == "manifest":
            manifest = shown
        else:
            parts.append({**shown, "oversized": part.oversized})
    return {**record.public_state(), "parts": parts, "manifest": manifest}
