"""Ticket states and the transitions allowed between them, written once."""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    QUEUED = "queued"
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """No further change but expiry: a status stream ends here."""
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {TicketStatus.READY, TicketStatus.FAILED, TicketStatus.CANCELLED, TicketStatus.EXPIRED}
)

# A build redelivered after its worker died finds the ticket still
# preparing: preparing -> preparing restarts it.
ALLOWED_FROM: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.QUEUED: frozenset(),
    TicketStatus.PREPARING: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.READY: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.FAILED: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.CANCELLED: frozenset({TicketStatus.QUEUED, TicketStatus.PREPARING}),
    TicketStatus.EXPIRED: frozenset({TicketStatus.READY, TicketStatus.QUEUED, TicketStatus.PREPARING}),
}
