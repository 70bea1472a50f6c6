"""What the licence allows now: read and verified at start-up, then again every
FILEGATE_LICENCE_CHECK_INTERVAL; its expiry date is compared at every use.

Without a licence file filegate runs with the community limits. With a licence
that has expired, was altered, or cannot be read, it refuses new downloads
(403 naming the reason) but keeps answering for existing tickets and links.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from filegate.errors import Forbidden
from filegate.licence.document import FEATURES, LicenceError, Terms, verify
from filegate.settings import Settings
from filegate.units import format_size

log = logging.getLogger(__name__)


class LicenceStatus(StrEnum):
    COMMUNITY = "community"
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Limits:
    max_concurrent_builds: int
    max_archive_size: int
    features: tuple[str, ...]


COMMUNITY_LIMITS = Limits(max_concurrent_builds=2, max_archive_size=50 * 1000**3, features=FEATURES)


@dataclass(frozen=True, slots=True)
class LicenceState:
    status: LicenceStatus
    limits: Limits
    reason: str = ""
    terms: Terms | None = None

    @property
    def allows_new_downloads(self) -> bool:
        return self.status in (LicenceStatus.COMMUNITY, LicenceStatus.VALID)

    def public(self) -> dict[str, Any]:
        """What GET /licence and /health/ready show: the terms, never a key."""
        body: dict[str, Any] = {
            "status": self.status.value,
            "limits": {
                "max_concurrent_builds": self.limits.max_concurrent_builds,
                "max_archive_size": self.limits.max_archive_size,
                "features": list(self.limits.features),
            },
        }
        if self.reason:
            body["reason"] = self.reason
        if self.terms is not None:
            body["licensee"] = self.terms.licensee
            body["licence_id"] = self.terms.licence_id
            body["expires"] = self.terms.expires.isoformat()
        return body

    def require(self, estimate: int, split: bool, high_priority: bool) -> None:
        """Refuse (403) a new download the licence does not allow."""
        if not self.allows_new_downloads:
            raise Forbidden(f"new downloads are refused: {self.reason}", licence=self.status.value)
        if estimate > self.limits.max_archive_size:
            raise Forbidden(
                f"the archive would be larger than the licence allows "
                f"({format_size(self.limits.max_archive_size)})",
                licence=self.status.value,
                max_archive_size=self.limits.max_archive_size,
            )
        for feature, used in (("split", split), ("priorities", high_priority)):
            if used and feature not in self.limits.features:
                raise Forbidden(
                    f"the licence does not include the {feature!r} feature", licence=self.status.value
                )


def evaluate(settings: Settings, today: datetime | None = None) -> LicenceState:
    """Read and verify the licence file now."""
    if settings.licence_file is None:
        return LicenceState(LicenceStatus.COMMUNITY, COMMUNITY_LIMITS)
    if not settings.licence_public_key:
        return _refused("FILEGATE_LICENCE_PUBLIC_KEY is not set, so the licence cannot be verified")
    try:
        text = settings.licence_file.read_text()
    except OSError as exc:
        return _refused(f"the licence file cannot be read ({exc.strerror or exc})")
    try:
        terms = verify(text, settings.licence_public_key)
    except LicenceError as exc:
        return _refused(str(exc))
    limits = Limits(terms.max_concurrent_builds, terms.max_archive_size, terms.features)
    now = (today or datetime.now(UTC)).date()
    if now > terms.expires:
        return LicenceState(
            LicenceStatus.EXPIRED, limits, f"the licence expired on {terms.expires.isoformat()}", terms
        )
    return LicenceState(LicenceStatus.VALID, limits, terms=terms)


def _refused(reason: str) -> LicenceState:
    return LicenceState(LicenceStatus.INVALID, COMMUNITY_LIMITS, reason)


class LicenceCheck:
    """The licence state, verified again once the check interval has passed (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._state = evaluate(settings)
        self._checked = time.monotonic()
        self._log(self._state, None)

    def state(self) -> LicenceState:
        with self._lock:
            due = time.monotonic() - self._checked >= self._settings.licence_check_interval
            expired = self._state.terms is not None and datetime.now(UTC).date() > self._state.terms.expires
            if due or (expired and self._state.status is LicenceStatus.VALID):
                previous, self._state = self._state, evaluate(self._settings)
                self._checked = time.monotonic()
                self._log(self._state, previous)
            return self._state

    def max_concurrent_builds(self) -> int:
        return min(self._settings.max_concurrent_builds, self.state().limits.max_concurrent_builds)

    @staticmethod
    def _log(state: LicenceState, previous: LicenceState | None) -> None:
        if previous is not None and previous.status is state.status:
            return
        if state.status is LicenceStatus.VALID:
            assert state.terms is not None
            log.info("licence valid: %s until %s", state.terms.licensee, state.terms.expires.isoformat())
        elif state.status is LicenceStatus.COMMUNITY:
            log.info("no licence: community limits %s", state.public()["limits"])
        else:
            log.error("licence %s: %s; new downloads are refused", state.status.value, state.reason)
