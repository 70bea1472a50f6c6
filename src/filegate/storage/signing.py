"""HMAC-signed link tokens: the URL itself is the capability, until it expires.

``/files/<key>`` links reach archives in the output folder; ``/sources/<path>``
links reach one source file, and also sign the version it was pinned at, so
the link stops working (410) once the file changes.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode


def _signature(secret: str, key: str, expires_ts: int, name: str, version: str) -> str:
    message = f"{key}\n{expires_ts}\n{name}"
    if version:
        message += f"\nsource\n{version}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign_link(base_url: str, secret: str, key: str, name: str, expires_ts: int, version: str = "") -> str:
    """An absolute URL carrying expiry, download name and signature (and the pinned version)."""
    query: dict[str, str | int] = {"expires": expires_ts, "name": name}
    if version:
        query["version"] = version
    query["sig"] = _signature(secret, key, expires_ts, name, version)
    route = "sources" if version else "files"
    return f"{base_url}/{route}/{quote(key)}?{urlencode(query)}"


def is_valid_signature(
    secret: str, key: str, name: str, expires_ts: int, signature: str, version: str = ""
) -> bool:
    return hmac.compare_digest(_signature(secret, key, expires_ts, name, version), signature)
