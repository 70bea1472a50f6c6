"""Where a ticket lives in Redis."""

from __future__ import annotations

PREFIX = "filegate"


def ticket_key(ticket_id: str) -> str:
    return f"{PREFIX}:ticket:{ticket_id}"


def events_key(ticket_id: str) -> str:
    return f"{PREFIX}:ticket:{ticket_id}:events"


def owner_feed_key(owner: str) -> str:
    """Every event of every ticket of one owner, in one stream: what a page follows."""
    return f"{PREFIX}:owner:{owner}:events"


def owner_tickets_key(owner: str) -> str:
    """The owner's ticket ids, scored by creation time (ms)."""
    return f"{PREFIX}:owner:{owner}:tickets"
