"""Where a ticket lives in Redis."""

from __future__ import annotations

PREFIX = "filegate"


def ticket_key(ticket_id: str) -> str:
    return f"{PREFIX}:ticket:{ticket_id}"


def events_key(ticket_id: str) -> str:
    return f"{PREFIX}:ticket:{ticket_id}:events"
