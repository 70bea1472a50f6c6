"""HMAC-signed link tokens: the URL itself is the capability, until it expires.

``/files/<key>`` links reach archives in the output folder; ``/sources/<path>``
links reach one source file, and also sign the version it was pinned at, so
the link stops working (410) once the file changes. Both sign the ticket they
were given to: the link stops working (410) once that ticket is released or
expires, even while another ticket holds the same archive.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode


def _signature(secret: str, key: str, expires_ts: int, name: str, version: str, ticket: str) -> str:
    message = f"{key}\n{expires_ts}\n{name}\nticket\n{ticket}"
    if version:
        message += f"\nsource\n{version}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign_link(
    base_url: str, secret: str, key: str, name: str, expires_ts: int, ticket: str, version: str = ""
) -> str:
    """An absolute URL carrying expiry, download name, ticket and signature (and the pinned version)."""
    query: dict[str, str | int] = {"expires": expires_ts, "name": name, "ticket": ticket}
    if version:
        query["version"] = version
    query["sig"] = _signature(secret, key, expires_ts, name, version, ticket)
    route = "sources" if version else "files"
    return f"{base_url}/{route}/{quote(key)}?{urlencode(query)}"


def is_valid_signature(
    secret: str, key: str, name: str, expires_ts: int, ticket: str, signature: str, version: str = ""
) -> bool:
    expected = _signature(secret, key, expires_ts, name, version, ticket)
    # As bytes: compare_digest refuses str holding anything but ASCII (a TypeError, so a 500).
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
