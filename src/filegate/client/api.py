"""``Client``: one filegate server, its API key, and every call a downloader needs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from filegate import __version__
from filegate.client.errors import ChecksumMismatch, ConnectionFailed, TicketNotReady, raise_for_error
from filegate.client.events import DEFAULT_BACKOFF, Backoff, follow
from filegate.client.models import Event, Part, Result, Ticket, TicketState
from filegate.client.transfer import OnBytes, SavedPart, save_part


class Client:
    """A filegate server at ``server`` (its base URL), called with the API key or session token
    ``key`` (none when the server runs with ``FILEGATE_AUTH=off``).

    Errors: ``ApiError`` for an error answer (with the server's body), ``ConnectionFailed`` when
    the server cannot be reached, ``TicketNotReady`` and ``ChecksumMismatch`` from the helpers."""

    def __init__(
        self,
        server: str,
        key: str | None = None,
        *,
        timeout_seconds: float = 30,
        backoff: Backoff = DEFAULT_BACKOFF,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.backoff = backoff
        headers = {"User-Agent": f"filegate-client/{__version__}"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._api = httpx.Client(
            base_url=self.server, headers=headers, timeout=timeout_seconds, transport=transport
        )
        # Links carry their own signature: no Authorization header goes to S3 or elsewhere.
        self._links = httpx.Client(headers={"User-Agent": headers["User-Agent"]}, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()
        self._links.close()

    def _call(self, method: str, path: str, **options: Any) -> Any:
        try:
            answer = self._api.request(method, path, **options)
        except httpx.TransportError as exc:
            raise ConnectionFailed(self.server, str(exc) or type(exc).__name__) from exc
        raise_for_error(answer)
        return answer.json()

    def create_download(
        self,
        paths: list[str],
        *,
        name: str | None = None,
        split: str | int | None = None,
        expires: str | int | None = None,
        compression: str | None = None,
        priority: str | None = None,
        archive: str | None = None,
        on_change: str | None = None,
        callback_url: str | None = None,
    ) -> Ticket:
        """POST /download: a ticket for these files and folders; options left as None take the
        server's defaults (sizes like ``"2GB"``, durations like ``"2 days"``)."""
        options = {
            "name": name,
            "split_size": split,
            "expires_in": expires,
            "compression": compression,
            "priority": priority,
            "archive": archive,
            "on_change": on_change,
            "callback_url": callback_url,
        }
        body = {"paths": paths, **{key: value for key, value in options.items() if value is not None}}
        return Ticket.from_json(self._call("POST", "/download", json=body))

    def state(self, ticket_id: str) -> TicketState:
        """The ticket's state now."""
        data = self._call("GET", f"/ticket/{ticket_id}/status", headers={"Accept": "application/json"})
        return TicketState.from_json(data)

    def events(self, ticket_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        """The ticket's events from the start (or after ``last_event_id``) until its final status,
        resumed across dropped connections."""
        try:
            yield from follow(
                self._api,
                f"/ticket/{ticket_id}/status",
                {},
                last_event_id=last_event_id,
                backoff=self.backoff,
            )
        except ConnectionFailed as exc:
            raise ConnectionFailed(self.server, exc.reason) from exc

    def wait(self, ticket_id: str, *, on_event: Callable[[Event], None] | None = None) -> TicketState:
        """Follow the ticket until its final status, then its state (whatever that status is)."""
        for event in self.events(ticket_id):
            if on_event is not None:
                on_event(event)
        return self.state(ticket_id)

    def wait_ready(self, ticket_id: str, *, on_event: Callable[[Event], None] | None = None) -> TicketState:
        """Like ``wait``, raising ``TicketNotReady`` (with the reason) unless it ends ready."""
        state = self.wait(ticket_id, on_event=on_event)
        if state.status != "ready":
            raise TicketNotReady(ticket_id, state.status, state.error)
        return state

    def result(self, ticket_id: str) -> Result:
        """The ticket's parts with their links: all once ready, those committed so far while it
        is preparing (``is_partial``); a 409 ``ApiError`` before its first part is committed."""
        return Result.from_json(self._call("GET", f"/ticket/{ticket_id}/result"))

    def cancel(self, ticket_id: str) -> TicketState:
        """DELETE /ticket/{id}: cancel a queued or preparing ticket, or release a ready one."""
        return TicketState.from_json(self._call("DELETE", f"/ticket/{ticket_id}"))

    def save_part(self, part: Part, directory: Path, *, on_bytes: OnBytes | None = None) -> SavedPart:
        """Download one part into ``directory`` (resumed, verified: see ``transfer.save_part``)."""
        directory.mkdir(parents=True, exist_ok=True)
        return save_part(self._links, part, directory, on_bytes=on_bytes, backoff=self.backoff)

    def read_part(self, part: Part) -> bytes:
        """A part's bytes in memory, checked like ``save_part`` (for small parts)."""
        try:
            answer = self._links.get(part.url, headers={"Accept-Encoding": "identity"})
        except httpx.TransportError as exc:
            raise ConnectionFailed(part.url.split("?", 1)[0], str(exc) or type(exc).__name__) from exc
        raise_for_error(answer)
        actual = hashlib.sha256(answer.content).hexdigest()
        if len(answer.content) != part.size or part.sha256 not in (None, actual):
            raise ChecksumMismatch(Path(part.name), part.sha256 or f"{part.size} bytes", actual)
        return answer.content

    def download(self, paths: list[str], directory: Path, **options: Any) -> list[SavedPart]:
        """Everything in one call: create the ticket, wait until ready, save every part."""
        ticket = self.create_download(paths, **options)
        self.wait_ready(ticket.ticket_id)
        return [self.save_part(part, directory) for part in self.result(ticket.ticket_id).parts]
