"""Requested paths: normalised, never climbing out of the store, each asked for once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filegate.errors import InvalidRequest
from filegate.snapshot.paths import normalise_path, normalise_paths
from filegate.storage.base import PathLimits


@pytest.mark.parametrize(
    ("raw", "path", "wants_folder"),
    [
        ("photos/", "photos", True),
        ("photos", "photos", False),
        ("a//b/./c", "a/b/c", False),
        ("./reports/2023.pdf", "reports/2023.pdf", False),
        ("été/東京.txt", "été/東京.txt", False),
        ("a\\b", "a\\b", False),
    ],
)
def test_paths_are_normalised(raw: str, path: str, wants_folder: bool) -> None:
    requested = normalise_path(raw, "paths[0]")
    assert (requested.path, requested.wants_folder) == (path, wants_folder)


@pytest.mark.parametrize("raw", ["", " ", "/etc/passwd", "..", "a/../b", "a/..", "x\x00", ".", "/", "//"])
def test_unsafe_paths_are_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        normalise_path(raw, "paths[3]")
    assert caught.value.extra["field"] == "paths[3]"


def test_the_same_path_twice_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        normalise_paths(["a/b", "c", "a//b/"])
    assert caught.value.extra["field"] == "paths[2]"


segment = st.text(alphabet=st.characters(blacklist_characters="/\x00"), min_size=1, max_size=8)


@given(st.lists(st.one_of(segment, st.just(".."), st.just("."), st.just("")), min_size=1, max_size=6))
def test_no_normalised_path_climbs_out(segments: list[str]) -> None:
    raw = "/".join(segments)
    try:
        requested = normalise_path(raw, "paths[0]")
    except InvalidRequest:
        return
    parts = requested.path.split("/")
    assert ".." not in parts and "" not in parts and "." not in parts
    assert not requested.path.startswith("/")


LOCAL = PathLimits(name_bytes=255, path_bytes=4095)


@pytest.mark.parametrize(
    "raw",
    ["n" * 256, "a/" + "é" * 128, "/".join(["d" * 200] * 21), "ok/" + "\ud800" * 128],
    ids=["name-256", "name-256-bytes", "path-4220", "lone-surrogates"],
)
def test_paths_longer_than_the_store_holds_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        normalise_path(raw, "paths[2]", LOCAL)
    assert refused.value.extra["field"] == "paths[2]"


def test_the_longest_names_and_paths_the_store_holds_are_taken() -> None:
    raw = "/".join(["é" * 127 + "x"] * 15)  # 255 bytes a name, 3,839 in all
    assert normalise_path(raw, "path", LOCAL).path == raw
