from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filegate.units import format_size, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GB", 2_000_000_000),
        ("512 MiB", 512 * 1024**2),
        ("1.5 kb", 1500),
        ("1024", 1024),
        (" 7 B ", 7),
        ("3TiB", 3 * 1024**4),
        (42, 42),
    ],
)
def test_sizes_read_as_people_write_them(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "2 XB", "-1GB", "two GB", "1.2.3MB", True, -4])
def test_bad_sizes_are_refused_with_a_hint(text: str | int) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", 90),
        ("2 days", 172800),
        ("1 second", 1),
        ("15 min", 900),
        ("1h 30m", 5400),
        ("1 day, 2 hours", 93600),
        ("3600", 3600),
        (60, 60),
        ("1 week", 604800),
    ],
)
def test_durations_read_as_people_write_them(text: str | int, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "forever", "2 fortnights", "5 days ago", "-1 day", "d", "1e9", True])
def test_bad_durations_are_refused(text: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_any_byte_count_reads_back(count: int) -> None:
    assert parse_size(str(count)) == count
    assert parse_size(f"{count} B") == count


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["s", "min", "h", "days", "weeks"]))
def test_any_whole_duration_reads_back(number: int, unit: str) -> None:
    factor = {"s": 1, "min": 60, "h": 3600, "days": 86400, "weeks": 604800}[unit]
    assert parse_duration(f"{number} {unit}") == number * factor


def test_format_size_is_short() -> None:
    assert format_size(999) == "999 B"
    assert format_size(10_000_000_000) == "10.0 GB"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("60/minute", (60, 60)), ("10/30s", (10, 30)), ("1000 / 1h", (1000, 3600)), ("5/day", (5, 86400))],
)
def test_rates(text: str, expected: tuple[int, int]) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["60", "0/minute", "x/minute", "5/fortnight", "5/0s", "-1/s"])
def test_malformed_rates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize("text", ["9" * 400 + " GB", 10**40, 2**63, "99999999999 TiB"])
def test_sizes_past_64_bits_are_refused_not_overflowed(text: str | int) -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_size(text)


@pytest.mark.parametrize("text", ["9" * 400 + " days", "9" * 31, 10**40, 1e308, float("inf"), float("nan")])
def test_durations_past_64_bits_are_refused_not_overflowed(text: str | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_every_64_bit_size_is_taken(size: int) -> None:
    assert parse_size(size) == size
