"""Secrets: API keys, session tokens and passwords, and how each is kept and compared.

API keys and session tokens carry 256 random bits, so a fast hash (SHA-256) is
enough to keep them: only the digest is stored, and a presented token is found
by its digest, then compared in constant time. Passwords are low-entropy and
get argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_KEY_PREFIX = "fgk_"
SESSION_PREFIX = "fgs_"

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Verified against when the user does not exist, so that the answer takes as long either way.
_ABSENT_USER_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a presented secret with a configured one."""
    return hmac.compare_digest(digest(given), digest(expected))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _ABSENT_USER_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
