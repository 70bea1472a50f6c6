"""What a ready ticket's result shows: its parts with sizes, digests and links (GET /ticket/{id}/result
answers it, and a ready ticket's webhook carries it)."""

from __future__ import annotations

from typing import Any

from filegate.archive.parts import part_name
from filegate.archive.record import CommittedPart, Part
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


def _shown(part: Part, url: str, record: TicketRecord) -> dict[str, Any]:
    return {
        "name": part.name,
        "size": part.size,
        # A file linked directly was never read: its digest is not known.
        "sha256": part.sha256 or None,
        "url": url,
        "expires_at": record.expires_at.isoformat(),
    }


def result_body(record: TicketRecord, links: list[str]) -> dict[str, Any]:
    """The ticket's state with its parts and manifest; ``links`` has one link per part, in order."""
    parts: list[dict[str, Any]] = []
    manifest = None
    for part, url in zip(record.parts, links, strict=True):
        shown = _shown(part, url, record)
        if part.role == "manifest":
            manifest = shown
        else:
            parts.append({**shown, "part": len(parts) + 1, "oversized": part.oversized})
    return {
        **record.public_state(),
        "partial": False,
        "parts_total": len(parts),
        "parts": parts,
        "pending": [],
        "manifest": manifest,
    }


def partial_result_body(
    record: TicketRecord, committed: list[CommittedPart], links: list[str]
) -> dict[str, Any]:
    """A preparing ticket's parts committed so far with their links, and the names of the parts
    still to come; the manifest comes with the last."""
    parts_total = committed[0].parts_total
    ready = {item.number for item in committed}
    parts = [
        {**_shown(item.part, url, record), "part": item.number, "oversized": item.part.oversized}
        for item, url in zip(committed, links, strict=True)
    ]
    pending = [
        {"part": number, "name": part_name(record.options.name, number, parts_total)}
        for number in range(1, parts_total + 1)
        if number not in ready
    ]
    return {
        **record.public_state(),
        "partial": True,
        "parts_total": parts_total,
        "parts": parts,
        "pending": pending,
        "manifest": None,
    }
