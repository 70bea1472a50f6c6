"""What the client raises: the server's error answers, lost connections, bad downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


class ClientError(Exception):
    """Anything the client could not do; ``str()`` is a sentence for people."""


class ApiError(ClientError):
    """The server answered with an error: its status and its ``{"error", "detail", …}`` body."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.body = body
        self.error = str(body.get("error", "unknown"))
        self.detail = str(body.get("detail", "no detail given"))
        super().__init__(f"{self.detail} ({status_code} {self.error})")

    @property
    def field(self) -> str | None:
        value = self.body.get("field")
        return None if value is None else str(value)

    @property
    def paths(self) -> list[str]:
        return [str(path) for path in self.body.get("paths") or []]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])


class ConnectionFailed(ClientError):
    """The server could not be reached, or kept dropping the connection."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class TicketNotReady(ClientError):
    """A ticket ended failed, cancelled or expired instead of ready; ``reason`` says why if known."""

    def __init__(self, ticket_id: str, status: str, reason: str | None) -> None:
        self.ticket_id = ticket_id
        self.status = status
        self.reason = reason
        super().__init__(f"ticket {ticket_id} is {status}" + (f": {reason}" if reason else ""))


class ChecksumMismatch(ClientError):
    """A downloaded part's SHA-256 is not the one the server announced."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(f"{path} has SHA-256 {actual}, expected {expected}")


def raise_for_error(answer: httpx.Response) -> None:
    """Raise ``ApiError`` for a 4xx or 5xx answer, with its JSON body (or its text as detail)."""
    if answer.status_code < 400:
        return
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"error": "http_error", "detail": answer.text.strip()[:500] or answer.reason_phrase}
    raise ApiError(answer.status_code, body)
