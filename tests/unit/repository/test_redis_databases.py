"""Each test module that starts filegate on a numbered Redis database keeps that number to
itself: two modules on one database see each other's queues and builds (a leftover running
build holds the other's slots)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
# A number in a URL (f"{redis_url}/N"), or given to a name that a URL takes
# (database or DATABASE set to a number, or to "N if ... else M").
_NUMBERED = re.compile(r"redis_url\}/(\d+)|\b(?:database|DATABASE) = (\d+)(?: if .* else (\d+))?")


def test_no_redis_database_is_shared_by_two_test_modules() -> None:
    users: dict[int, set[str]] = defaultdict(set)
    for module in TESTS.rglob("*.py"):
        for match in _NUMBERED.findall(module.read_text()):
            for number in filter(None, match):
                users[int(number)].add(str(module.relative_to(TESTS)))
    shared = {number: sorted(modules) for number, modules in users.items() if len(modules) > 1}
    assert shared == {}
    assert users, "no numbered database found: the pattern no longer matches the tests"
    # Each way of naming a number is still seen (a pattern that stopped matching one would
    # let two modules share a database unnoticed).
    assert {7, 8, 14, 15, 62, 63} <= set(users)
