"""Signatures of webhook deliveries, in the Standard Webhooks format (www.standardwebhooks.com).

The receiver checks ``webhook-signature`` against an HMAC-SHA256 of
``"{webhook-id}.{webhook-timestamp}.{body}"`` under the shared secret, and
refuses a timestamp too far from its clock (replays). A secret written
``whsec_<base64>`` (the form the Standard Webhooks libraries use) is those
bytes; any other secret is its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
"""How far a receiver should let a timestamp be from its clock (the standard's suggestion)."""


def secret_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of one delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def is_valid(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """What a receiver does (docs/api.md shows the same): one of the space-separated ``v1,``
    signatures matches, and the timestamp is within TOLERANCE_SECONDS of ``now``."""
    try:
        message_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        offered = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
