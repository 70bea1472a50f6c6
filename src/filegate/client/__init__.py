"""The Python client of filegate's HTTP API: tickets, their events, results and part downloads."""

from filegate.client.api import Client
from filegate.client.errors import (
    ApiError,
    ChecksumMismatch,
    ClientError,
    ConnectionFailed,
    TicketNotReady,
)
from filegate.client.models import Event, Part, Progress, Result, Ticket, TicketState

__all__ = [
    "ApiError",
    "ChecksumMismatch",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "Event",
    "Part",
    "Progress",
    "Result",
    "Ticket",
    "TicketNotReady",
    "TicketState",
]
