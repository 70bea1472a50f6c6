"""Planning a server-side copy: the part ahead of it and the copied ranges are all parts S3 takes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from filegate.storage.s3_copy import MIN_PART_SIZE, copy_ranges, head_bytes

MIB = 1024 * 1024
part_sizes = st.integers(MIN_PART_SIZE, 64 * MIB)


@given(part_sizes, st.data())
def test_the_part_ahead_of_a_copy_is_sent_or_at_least_a_minimum_part(
    part_size: int, data: st.DataObject
) -> None:
    buffered = data.draw(st.integers(0, part_size - 1))
    first = data.draw(st.integers(1, MIB))

    head = head_bytes(buffered, first, part_size)

    left = (buffered + head) % part_size
    assert head >= first and (left == 0 or left >= MIN_PART_SIZE)
    assert head - first < MIN_PART_SIZE  # no more is read than that takes


@given(part_sizes, st.data())
def test_copied_ranges_cover_the_rest_in_order_each_at_least_a_minimum_part(
    part_size: int, data: st.DataObject
) -> None:
    offset = data.draw(st.integers(0, 8 * MIB))
    end = offset + data.draw(st.integers(MIN_PART_SIZE, 20 * part_size))

    ranges = copy_ranges(offset, end, part_size)

    assert ranges[0][0] == offset and ranges[-1][1] == end - 1
    assert all(after[0] == before[1] + 1 for before, after in itertools.pairwise(ranges))
    sizes = [last - start + 1 for start, last in ranges]
    assert all(part_size == size for size in sizes[:-1])
    assert MIN_PART_SIZE <= sizes[-1] < 2 * part_size or sizes == [end - offset]
