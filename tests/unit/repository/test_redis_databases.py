"""Each test module that starts filegate on a numbered Redis database keeps that number to
itself: two modules on one database see each other's queues and builds (a leftover running
build holds the other's slots)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
_NUMBERED = re.compile(r"redis_url\}/(\d+)")


def test_no_redis_database_is_shared_by_two_test_modules() -> None:
    users: dict[int, set[str]] = defaultdict(set)
    for module in TESTS.rglob("*.py"):
        for number in _NUMBERED.findall(module.read_text()):
            users[int(number)].add(str(module.relative_to(TESTS)))
    shared = {number: sorted(modules) for number, modules in users.items() if len(modules) > 1}
    assert shared == {}
    assert users, "no numbered database found: the pattern no longer matches the tests"
