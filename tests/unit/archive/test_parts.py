from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from filegate.archive.parts import END_RECORDS_BOUND, entry_bound, part_name, plan_parts
from filegate.snapshot.manifest import Manifest, ManifestEntry
from filegate.storage.base import SourceEntry

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def _file(name: str, size: int) -> ManifestEntry:
    return ManifestEntry(name, SourceEntry(name, False, size, EPOCH, "v"))


def _folder(name: str) -> ManifestEntry:
    return ManifestEntry(f"{name}/", SourceEntry(name, True, 0, EPOCH, ""))


def test_without_a_split_size_everything_is_one_part() -> None:
    manifest = Manifest([_folder("a"), _file("a/x", 10**10), _file("b", 5)])
    [part] = plan_parts(manifest, None)
    assert len(part.entries) == 3 and not part.oversized


def test_entries_fill_parts_in_order_within_the_split_size() -> None:
    files = [_file(f"f{n}", 400_000) for n in range(10)]
    parts = plan_parts(Manifest(files), 1_000_000)
    assert [len(part.entries) for part in parts] == [2, 2, 2, 2, 2]
    assert all(part.size_bound <= 1_000_000 for part in parts)
    assert [entry for part in parts for entry in part.entries] == files


def test_a_file_larger_than_the_split_size_stands_alone() -> None:
    small, big, after = _file("small", 10), _file("big", 5_000_000), _file("after", 10)
    parts = plan_parts(Manifest([small, big, after]), 1_000_000)
    assert [[entry.name for entry in part.entries] for part in parts] == [["small"], ["big"], ["after"]]
    assert [part.oversized for part in parts] == [False, True, False]


def test_a_big_file_at_the_end_leaves_no_empty_part() -> None:
    parts = plan_parts(Manifest([_file("big", 5_000_000)]), 1_000_000)
    assert len(parts) == 1 and parts[0].oversized


def test_part_names() -> None:
    assert part_name("holiday", 1, 1) == "holiday.zip"
    assert part_name("holiday", 2, 3) == "holiday-2-of-3.zip"


@given(st.lists(st.integers(min_value=0, max_value=3_000_000), min_size=1, max_size=40))
def test_every_part_fits_unless_it_holds_one_oversized_file(sizes: list[int]) -> None:
    files = [_file(f"dir/file-{n}.bin", size) for n, size in enumerate(sizes)]
    split = 2_000_000
    parts = plan_parts(Manifest(files), split)
    assert [entry for part in parts for entry in part.entries] == files
    for part in parts:
        assert part.entries
        if part.oversized:
            assert len(part.entries) == 1
            assert entry_bound(part.entries[0]) + END_RECORDS_BOUND > split
        else:
            assert part.size_bound <= split
