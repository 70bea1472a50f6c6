"""Licences for the tests, signed with a key pair made for them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from filegate.licence.document import FEATURES, Terms, new_key_pair, sign


def licence_env(
    folder: Path,
    *,
    expires: date | None = None,
    max_concurrent_builds: int = 64,
    max_archive_size: int = 10**12,
    features: tuple[str, ...] = FEATURES,
    public_key: str | None = None,
    key_pair: tuple[str, str] | None = None,
) -> dict[str, str]:
    """FILEGATE_* variables for a licence with these terms (valid for a year unless told),
    written to ``folder/licence.txt`` and signed with ``key_pair`` (else a new one);
    ``public_key`` verifies it instead of the signer's own."""
    private_key, own_public_key = key_pair or new_key_pair()
    terms = Terms(
        licensee="filegate tests",
        expires=expires or date.today() + timedelta(days=365),
        max_concurrent_builds=max_concurrent_builds,
        max_archive_size=max_archive_size,
        features=features,
        licence_id="test",
    )
    folder.mkdir(parents=True, exist_ok=True)
    licence = folder / "licence.txt"
    licence.write_text(sign(terms, private_key) + "\n")
    return {
        "FILEGATE_LICENCE_FILE": str(licence),
        "FILEGATE_LICENCE_PUBLIC_KEY": public_key or own_public_key,
    }
