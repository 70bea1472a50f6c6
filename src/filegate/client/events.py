"""Following a ticket's Server-Sent Events, resuming with Last-Event-ID when the connection drops."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx

from filegate.client.errors import ConnectionFailed, raise_for_error
from filegate.client.models import Event


def parse_stream(lines: Iterable[str]) -> Iterator[Event]:
    """Events from the lines of an event stream (the WHATWG format); comments are keep-alives."""
    event_id: str | None = None
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event.parse(event_id, name, "\n".join(data))
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
        elif key == "id":
            event_id = value


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnections: doubling from ``first_seconds`` up to ``max_seconds``; after
    ``attempts`` failures in a row without a single event in between, the client gives up."""

    first_seconds: float = 0.5
    max_seconds: float = 10.0
    attempts: int = 6

    def delay(self, failures: int) -> float:
        return float(min(self.max_seconds, self.first_seconds * 2 ** (failures - 1)))


DEFAULT_BACKOFF = Backoff()
READ_TIMEOUT_SECONDS = 90


def follow(
    http: httpx.Client,
    url: str,
    headers: dict[str, str],
    *,
    last_event_id: str | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Every event of the stream at ``url`` after ``last_event_id``, until the final status.

    A dropped connection (or a stream cut before its final status, as when an API process stops)
    is resumed after the last event seen; a 204 says that event was already the final one."""
    failures = 0
    while True:
        request_headers = {**headers, "Accept": "text/event-stream"}
        if last_event_id is not None:
            request_headers["Last-Event-ID"] = last_event_id
        try:
            # Keep-alives come every 15 s by default (FILEGATE_SSE_KEEPALIVE): silence much longer
            # than that means a dead connection, which is then resumed like a dropped one.
            timeout = httpx.Timeout(30, read=READ_TIMEOUT_SECONDS)
            with http.stream("GET", url, headers=request_headers, timeout=timeout) as answer:
                if answer.status_code == 204:
                    return
                if answer.status_code >= 400:
                    answer.read()
                    raise_for_error(answer)
                for event in parse_stream(answer.iter_lines()):
                    failures = 0
                    last_event_id = event.id or last_event_id
                    yield event
                    if event.is_final:
                        return
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
        else:
            reason = "the stream ended before the ticket's final state"
        failures += 1
        if failures > backoff.attempts:
            raise ConnectionFailed(url, reason)
        sleep(backoff.delay(failures))
