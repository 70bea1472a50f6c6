"""HMAC-signed link tokens: the URL itself is the capability, until it expires."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode


def _signature(secret: str, key: str, expires_ts: int, name: str) -> str:
    message = f"{key}\n{expires_ts}\n{name}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_link(base_url: str, secret: str, key: str, name: str, expires_ts: int) -> str:
    """An absolute URL of ``/files/<key>`` carrying expiry, download name and signature."""
    query = urlencode({"expires": expires_ts, "name": name, "sig": _signature(secret, key, expires_ts, name)})
    return f"{base_url}/files/{quote(key)}?{query}"


def is_valid_signature(secret: str, key: str, name: str, expires_ts: int, signature: str) -> bool:
    return hmac.compare_digest(_signature(secret, key, expires_ts, name), signature)
