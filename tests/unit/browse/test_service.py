"""Browsing: folders normalised like download paths, and above a scope only the way to it."""

from __future__ import annotations

import pytest

from filegate.browse.service import children_towards_scopes, normalise_folder
from filegate.errors import InvalidRequest


@pytest.mark.parametrize(("raw", "folder"), [("", ""), (".", ""), ("./", ""), ("a//b/", "a/b"), ("./a", "a")])
def test_folders_normalise_like_download_paths(raw: str, folder: str) -> None:
    assert normalise_folder(raw) == folder


@pytest.mark.parametrize("raw", ["/etc", "a/../b", "..", "a\x00b"])
def test_folders_leaving_the_root_are_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest):
        normalise_folder(raw)


def test_above_a_scope_only_the_way_to_it_shows() -> None:
    scopes = ("photos/2023/summer", "photos/2024", "reports")
    assert children_towards_scopes("", scopes) == ["photos", "reports"]
    assert children_towards_scopes("photos", scopes) == ["2023", "2024"]
    assert children_towards_scopes("photos/2023", scopes) == ["summer"]
    assert children_towards_scopes("music", scopes) == []
    assert children_towards_scopes("reports", scopes) == []  # readable: listed, not walked towards
