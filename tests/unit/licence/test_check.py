"""The licence check: the state of a licence file by date and signature, and the build slots it
leaves the dispatcher."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from filegate.licence.check import LicenceCheck, LicenceStatus, evaluate
from filegate.licence.document import Terms, new_key_pair, sign
from filegate.scheduling.dispatcher import current_limits
from filegate.settings import Settings

TERMS = Terms(
    licensee="Example Ltd",
    expires=date(2030, 1, 31),
    max_concurrent_builds=8,
    max_archive_size=500 * 1000**3,
    features=("split",),
    licence_id="abc123",
    issued=date(2026, 11, 24),
)


def _settings(tmp_path: Path, text: str | None, public_key: str) -> Settings:
    licence = tmp_path / "licence.txt"
    if text is not None:
        licence.write_text(text)
    return Settings(licence_file=licence, licence_public_key=public_key)


def test_state_by_date_and_signature(tmp_path: Path) -> None:
    private_key, public_key = new_key_pair()
    settings = _settings(tmp_path, sign(TERMS, private_key), public_key)

    valid = evaluate(settings, datetime(2030, 1, 31, 23, 0, tzinfo=UTC))
    assert valid.status is LicenceStatus.VALID and valid.allows_new_downloads
    assert valid.limits.max_concurrent_builds == 8

    expired = evaluate(settings, datetime(2030, 2, 1, tzinfo=UTC))
    assert expired.status is LicenceStatus.EXPIRED and not expired.allows_new_downloads
    assert "2030-01-31" in expired.reason

    _, other_public = new_key_pair()
    tampered = evaluate(_settings(tmp_path, sign(TERMS, private_key), other_public))
    assert tampered.status is LicenceStatus.INVALID and not tampered.allows_new_downloads


def test_no_licence_means_community_limits_and_a_missing_file_is_refused(tmp_path: Path) -> None:
    community = evaluate(Settings(licence_file=None))
    assert community.status is LicenceStatus.COMMUNITY
    # docs/licence.md: 2 builds at once, archives up to 50 GB, all features.
    assert community.limits.max_concurrent_builds == 2
    assert community.limits.max_archive_size == 50_000_000_000
    assert sorted(community.limits.features) == ["priorities", "split"]
    missing = evaluate(_settings(tmp_path / "nowhere", None, new_key_pair()[1]))
    assert missing.status is LicenceStatus.INVALID and "cannot be read" in missing.reason
    no_key = evaluate(_settings(tmp_path, "x.y", ""))
    assert no_key.status is LicenceStatus.INVALID and "PUBLIC_KEY" in no_key.reason


def _licensed_settings(tmp_path: Path, licence_builds: int | None, setting_builds: int) -> Settings:
    """Settings allowing ``setting_builds`` at once, with a licence allowing ``licence_builds``
    (None: no licence, the community limits)."""
    if licence_builds is None:
        return Settings(licence_file=None, max_concurrent_builds=setting_builds, space_budget="1GB")
    private_key, public_key = new_key_pair()
    terms = Terms(
        licensee="Example Ltd",
        expires=date(2099, 12, 31),
        max_concurrent_builds=licence_builds,
        max_archive_size=10**12,
    )
    licence = tmp_path / "licence.txt"
    licence.write_text(sign(terms, private_key))
    return Settings(
        licence_file=licence,
        licence_public_key=public_key,
        max_concurrent_builds=setting_builds,
        space_budget="1GB",
    )


@pytest.mark.parametrize(
    ("licence_builds", "setting_builds", "slots"),
    [(1, 4, 1), (3, 4, 3), (8, 4, 4), (None, 4, 2), (None, 1, 1)],
)
def test_the_dispatcher_runs_the_smaller_of_the_setting_and_the_licences_builds(
    tmp_path: Path, licence_builds: int | None, setting_builds: int, slots: int
) -> None:
    settings = _licensed_settings(tmp_path, licence_builds, setting_builds)

    check = LicenceCheck(settings)

    assert check.max_concurrent_builds() == slots
    assert current_limits(settings, check.max_concurrent_builds()).max_slots == slots
