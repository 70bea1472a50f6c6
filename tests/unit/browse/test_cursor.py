"""The browse cursor: what it encodes comes back, from its own folder only; anything else is 422."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filegate.browse.cursor import MAX_NAME_BYTES, decode_cursor, encode_cursor
from filegate.errors import InvalidRequest
from filegate.storage.base import FolderPosition, ListingPhase

names = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), max_size=200)


@given(folder=st.text(max_size=50), phase=st.sampled_from(list(ListingPhase)), name=names)
def test_a_cursor_gives_back_its_position(folder: str, phase: ListingPhase, name: str) -> None:
    if phase is ListingPhase.FOLDERS and not name:
        name = "x"  # a folder position always names the folder it stopped at
    position = FolderPosition(phase, name)
    cursor = encode_cursor(folder, position)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(folder, cursor) == position


def test_a_cursor_of_another_folder_is_refused() -> None:
    cursor = encode_cursor("photos", FolderPosition(ListingPhase.FILES, "a.jpg"))
    with pytest.raises(InvalidRequest, match="another folder") as refused:
        decode_cursor("reports", cursor)
    assert refused.value.extra["field"] == "cursor"


def _raw(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "====",
        _raw(b"12345678x" + b"name"),  # no such phase
        _raw(b"12345678d"),  # a folder position without a name
        _raw(b"12345678f" + b"a/b"),
        _raw(b"12345678f" + b"a\x00b"),
        _raw(b"12345678f" + b"\xff\xfe"),  # not UTF-8
        "A" * 5000,
        _raw(b"12345678f" + b"n" * (MAX_NAME_BYTES + 1)),
    ],
)
def test_a_cursor_this_api_did_not_make_is_422(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        decode_cursor("", cursor)
    assert refused.value.status_code == 422
    assert refused.value.extra["field"] == "cursor"
