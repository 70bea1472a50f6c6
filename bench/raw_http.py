"""A minimal HTTP/1.1 client on asyncio streams, light enough to keep thousands of requests in flight.

httpx lags above ~500 open streams (docs: ENVIRONMENT-NOTES), so the bench writes requests and
reads answers itself: keep-alive POSTs with a Content-Length answer, and the status line and
headers of an event stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any


def _request(method: str, target: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The status code and headers (lower-case names) of an answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return body
        body += chunk[:-2]


async def post_many(
    port: int,
    api_key: str,
    bodies: list[dict[str, Any]],
    connections: int = 32,
    timeout_seconds: float = 600,
    check: Callable[[int, dict[str, Any]], bool] | None = None,
) -> int:
    """POST /download each body over ``connections`` keep-alive connections; the number of
    answers that were not 202 (or that ``check`` refused)."""
    pending = list(reversed(bodies))
    refused = 0

    async def worker() -> None:
        nonlocal refused
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        try:
            while pending:
                body = json.dumps(pending.pop()).encode()
                writer.write(_request("POST", "/download", port, headers, body))
                status, answer_headers = await read_head(reader)
                answer = json.loads(await _read_body(reader, answer_headers) or b"{}")
                if status != 202 or (check is not None and not check(status, answer)):
                    refused += 1
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), timeout_seconds)
    return refused


def stream_request(target: str, port: int) -> bytes:
    """GET of an event stream: no Authorization (the target carries its capability)."""
    return _request("GET", target, port, {"Accept": "text/event-stream", "Cache-Control": "no-cache"})
