"""Capabilities: a signature in a URL that grants one view of one thing, with no header.

A browser's ``EventSource`` cannot send an ``Authorization`` header, and a
page on another origin should not need one to read what it was handed. So the
ticket endpoints answer with URLs that carry an HMAC of what they show: a
ticket's status, a ticket's result, or one owner's event feed (with an expiry,
since the feed outlives any one ticket). A leaked URL shows that and nothing
else; the bearer-token and cookie forms keep working beside them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum


class Capability(StrEnum):
    TICKET_STATUS = "ticket-status"
    TICKET_RESULT = "ticket-result"
    OWNER_EVENTS = "owner-events"
    CSRF = "csrf"
    """Not a URL: the value a page sends in X-Filegate-CSRF beside its session cookie."""


def sign_capability(secret: str, capability: Capability, subject: str, expires_ts: int | None = None) -> str:
    """43 URL-safe characters binding ``capability`` to ``subject`` (and its expiry)."""
    message = f"capability\n{capability.value}\n{subject}\n{'' if expires_ts is None else expires_ts}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def is_capability(
    secret: str, capability: Capability, subject: str, token: str, expires_ts: int | None = None
) -> bool:
    expected = sign_capability(secret, capability, subject, expires_ts)
    return hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace"))
