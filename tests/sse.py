"""A small Server-Sent Events reader for the tests (per the WHATWG event-stream format)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.client import auth


@dataclass
class Message:
    event: str = "message"
    data_lines: list[str] = field(default_factory=list)
    id: str | None = None

    @property
    def data(self) -> str:
        return "\n".join(self.data_lines)

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Reader:
    """Parses lines into messages; comments (keep-alives) are counted apart."""

    comments: list[str] = field(default_factory=list)

    def messages(self, lines: Iterator[str]) -> Iterator[Message]:
        current = Message()
        for line in lines:
            if line == "":
                if current.data_lines or current.id is not None:
                    yield current
                current = Message()
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    current.event = value
                elif name == "data":
                    current.data_lines.append(value)
                elif name == "id":
                    current.id = value


def read_all(base_url: str, ticket_id: str, headers: dict[str, str] | None = None) -> list[Message]:
    """Every message until the server closes the stream."""
    url = f"{base_url}/ticket/{ticket_id}/status"
    with httpx.stream("GET", url, headers=auth(base_url, headers), timeout=60) as response:
        assert response.status_code == 200
        return list(Reader().messages(response.iter_lines()))
