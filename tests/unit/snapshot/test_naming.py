from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filegate.snapshot.naming import NameAllocator, safe_segment


@pytest.mark.parametrize(
    ("segment", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ('a:b*c?d"e<f>g|h', "a_b_c_d_e_f_g_h"),
        ("back\\slash", "back_slash"),
        ("trailing. ", "trailing__"),
        ("dots...", "dots___"),
        ("CON", "CON_"),
        ("con.txt", "con_.txt"),
        ("LPT9.tar.gz", "LPT9_.tar.gz"),
        ("COM10", "COM10"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("tab\there", "tab_here"),
        ("", "_"),
        ("東京 été.txt", "東京 été.txt"),
        (".env", ".env"),
    ],
)
def test_segments_are_made_safe_for_windows(segment: str, safe: str) -> None:
    assert safe_segment(segment) == safe


def test_names_stay_unique_per_folder_ignoring_case() -> None:
    names = NameAllocator()
    assert names.allocate("", "Report.pdf") == "Report.pdf"
    assert names.allocate("", "report.pdf") == "report (2).pdf"
    assert names.allocate("", "a:b") == "a_b"
    assert names.allocate("", "a_b") == "a_b (2)"
    assert names.allocate("", "a?b") == "a_b (3)"
    assert names.allocate("", ".env") == ".env"
    assert names.allocate("", ".env") == ".env (2)"
    assert names.allocate("other", "Report.pdf") == "Report.pdf"


def test_a_numbered_name_already_taken_is_skipped() -> None:
    names = NameAllocator()
    assert names.allocate("", "report (2).pdf") == "report (2).pdf"
    assert names.allocate("", "report.pdf") == "report.pdf"
    assert names.allocate("", "report.pdf") == "report (3).pdf"


@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=30))
def test_allocated_names_are_safe_and_never_collide(segments: list[str]) -> None:
    names = NameAllocator()
    allocated = [names.allocate("", segment) for segment in segments]
    assert len({name.casefold() for name in allocated}) == len(allocated)
    for name in allocated:
        assert name and not any(ch in name for ch in '\\:*?"<>|/\x00')
        assert not name.endswith((".", " "))


@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=30))
def test_the_same_input_gives_the_same_names(segments: list[str]) -> None:
    first, second = NameAllocator(), NameAllocator()
    assert [first.allocate("", s) for s in segments] == [second.allocate("", s) for s in segments]


@given(st.text(alphabet=st.sampled_from(list("cCoOnNlLpPtT19.: ?\x00\x7fé")), max_size=8))
def test_a_safe_segment_is_left_as_it_is_and_names_no_device(segment: str) -> None:
    safe = safe_segment(segment)
    assert safe_segment(safe) == safe
    assert safe.partition(".")[0].upper() not in {"CON", "NUL", "LPT1", "LPT9", "COM1", "COM9"}
