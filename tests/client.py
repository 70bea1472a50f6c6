"""The tests' calls to filegate over real HTTP: raw requests where a test looks at the answer
itself, filegate.client where it only needs what a downloader gets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from filegate.client import Client

FINAL = {"ready", "failed", "cancelled", "expired"}

_API_KEYS: dict[str, str] = {}
"""The API key the tests use for each running filegate, by base URL."""


def register_api_key(base_url: str, key: str) -> None:
    _API_KEYS[base_url] = key


def auth(base_url: str, headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` with the Authorization header of the tests' app on ``base_url``."""
    key = _API_KEYS.get(base_url)
    return {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}


def api(method: str, base_url: str, path: str, **options: Any) -> httpx.Response:
    """A call to filegate's API as the tests' app (links are fetched without it: plain httpx)."""
    headers = auth(base_url, options.pop("headers", None))
    return httpx.request(method, f"{base_url}{path}", headers=headers, **{"timeout": 30, **options})


def api_get(base_url: str, path: str, **options: Any) -> httpx.Response:
    return api("GET", base_url, path, **options)


def api_post(base_url: str, path: str, **options: Any) -> httpx.Response:
    return api("POST", base_url, path, **options)


def api_delete(base_url: str, path: str, **options: Any) -> httpx.Response:
    return api("DELETE", base_url, path, **options)


def request_download(base_url: str, paths: list[str], **options: Any) -> httpx.Response:
    return api_post(base_url, "/download", json={"paths": paths, **options}, timeout=30)


def client(base_url: str) -> Client:
    """filegate.client's Client as the tests' app on ``base_url`` (close it, or use ``with``)."""
    return Client(base_url, _API_KEYS.get(base_url))


def current_state(base_url: str, ticket_id: str) -> dict[str, Any]:
    with client(base_url) as filegate:
        return filegate.state(ticket_id).raw


def wait_final(base_url: str, ticket_id: str, timeout: float = 60) -> dict[str, Any]:
    # Polled rather than followed: some tests wait through a lost Redis or API, when the stream
    # answers errors that the client rightly raises.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = current_state(base_url, ticket_id)
        if state["status"] in FINAL:
            return state
        time.sleep(0.05)
    raise AssertionError(f"ticket {ticket_id} did not finish in {timeout} s: {state}")


REQUEST_FIELDS = {"split_size": "split", "expires_in": "expires"}
"""The request fields whose names the client spells otherwise."""


def download_ready(base_url: str, paths: list[str], **options: Any) -> tuple[dict[str, Any], list[bytes]]:
    """Request (``options`` named as in the request body), follow the events until ready, fetch
    the result and every part's bytes, checked against its SHA-256."""
    arguments = {REQUEST_FIELDS.get(name, name): value for name, value in options.items()}
    with client(base_url) as filegate:
        ticket = filegate.create_download(paths, **arguments)
        filegate.wait_ready(ticket.ticket_id)
        result = filegate.result(ticket.ticket_id)
        return result.raw, [filegate.read_part(part) for part in result.parts]


def part_key(url: str) -> str:
    """The storage key a part's link points at: /files/<key> locally, /<bucket>/<key> on S3."""
    path = unquote(urlsplit(url).path)
    if path.startswith("/files/"):
        return path.removeprefix("/files/")
    return path.lstrip("/").split("/", 1)[1]


def build_folder(base_url: str, ticket_id: str) -> str:
    """The folder (key prefix) a ready ticket's archive was written under."""
    result = api_get(base_url, f"/ticket/{ticket_id}/result", timeout=10)
    result.raise_for_status()
    return part_key(result.json()["parts"][0]["url"]).rsplit("/", 1)[0]


def eventually(check: Callable[[], bool], timeout: float = 20) -> bool:
    """Whether ``check`` comes true within ``timeout`` seconds (asked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()
