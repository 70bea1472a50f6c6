"""Human-readable sizes ("2GB", "512 MiB") and durations ("90s", "2 days")."""

from __future__ import annotations

import re

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

_DURATION_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}

LARGEST = 2**63 - 1
"""The largest size or duration taken: past it, Redis (64-bit integers), Lua (doubles) and the
ZIP format (64-bit fields) could not hold it, and float arithmetic turns to infinity."""


def _bounded(value: float, text: object, what: str) -> int:
    if not value <= LARGEST:  # also catches inf and nan
        raise ValueError(f"{str(text)[:40]!r} is too large for a {what}")
    return int(value)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*,?\s*")


def parse_size(text: str | int) -> int:
    """Bytes in a size such as ``5GB`` (10^9), ``512 MiB`` (2^20) or ``1024``."""
    if isinstance(text, bool):
        raise ValueError("a size must be a number of bytes or a text like '2GB'")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return _bounded(text, text, "size")
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size; write it like '2GB', '512 MiB' or '1048576'")
    number, unit = match.groups()
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        known = "B, KB, MB, GB, TB, KiB, MiB, GiB, TiB"
        raise ValueError(f"{text!r} has an unknown size unit {unit!r}; use one of {known}")
    return _bounded(float(number) * factor, text, "size")


def parse_duration(text: str | int | float) -> int:
    """Whole seconds in a duration such as ``90s``, ``2 days`` or ``1h 30m``."""
    if isinstance(text, bool):
        raise ValueError("a duration must be a number of seconds or a text like '2 days'")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded(text, text, "duration")
    stripped = text.strip()
    if re.fullmatch(r"\d{1,30}", stripped):
        return _bounded(int(stripped), text, "duration")
    total = 0.0
    position = 0
    for match in _DURATION_PART_RE.finditer(stripped):
        if match.start() != position:
            break
        number, unit = match.groups()
        factor = _DURATION_UNITS.get(unit.lower())
        if factor is None:
            raise ValueError(f"{text!r} has an unknown time unit {unit!r}; use s, min, h, days or weeks")
        total += float(number) * factor
        position = match.end()
    if position == 0 or position != len(stripped):
        raise ValueError(f"{text!r} is not a duration; write it like '90s', '15 min' or '2 days'")
    return _bounded(total, text, "duration")


def format_size(size_bytes: int) -> str:
    """A short human form of a byte count, for messages."""
    value = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def parse_rate(text: str) -> tuple[int, int]:
    """(requests, seconds) in a rate such as ``60/minute``, ``10/30s`` or ``1000/1h``."""
    count, separator, period = text.partition("/")
    if not separator or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"{text!r} is not a rate; write it like '60/minute' or '10/30s'")
    period = period.strip()
    seconds = parse_duration(period if period[:1].isdigit() else f"1 {period}")
    if seconds < 1:
        raise ValueError(f"{text!r} has a period shorter than a second")
    return int(count), seconds
