"""Licence documents: signed terms that verify with the right key only."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from filegate.licence.document import LicenceError, Terms, new_key_pair, sign, verify

TERMS = Terms(
    licensee="Example Ltd",
    expires=date(2030, 1, 31),
    max_concurrent_builds=8,
    max_archive_size=500 * 1000**3,
    features=("split",),
    licence_id="abc123",
    issued=date(2026, 11, 24),
)


def test_signed_terms_verify_and_read_back() -> None:
    private_key, public_key = new_key_pair()
    assert verify(sign(TERMS, private_key), public_key) == TERMS


def test_another_key_does_not_verify() -> None:
    private_key, _ = new_key_pair()
    _, other_public = new_key_pair()
    with pytest.raises(LicenceError, match="signature does not match"):
        verify(sign(TERMS, private_key), other_public)


def test_altered_terms_do_not_verify() -> None:
    private_key, public_key = new_key_pair()
    payload, signature = sign(TERMS, private_key).split(".")
    terms = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    raised = terms.replace(b'"max_concurrent_builds":8', b'"max_concurrent_builds":80')
    assert raised != terms
    forged = base64.urlsafe_b64encode(raised).rstrip(b"=").decode()
    with pytest.raises(LicenceError, match="signature does not match"):
        verify(f"{forged}.{signature}", public_key)


@pytest.mark.parametrize("text", ["", "no-dot", "!!!.???", "e30.AAAA"])
def test_garbage_is_refused_with_a_reason(text: str) -> None:
    _, public_key = new_key_pair()
    with pytest.raises(LicenceError):
        verify(text, public_key)
