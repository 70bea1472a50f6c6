from __future__ import annotations

import pytest

from filegate.tickets.events import format_event, stream_id


def test_fields_come_in_order_and_end_with_a_blank_line() -> None:
    assert format_event('{"a": 1}', "status", "1-0") == 'id: 1-0\nevent: status\ndata: {"a": 1}\n\n'


def test_multi_line_data_becomes_several_data_fields() -> None:
    assert (
        format_event("one\ntwo\r\nthree", "progress")
        == "event: progress\ndata: one\ndata: two\ndata: three\n\n"
    )


def test_empty_data_still_sends_a_data_field() -> None:
    assert format_event("") == "data: \n\n"


@pytest.mark.parametrize(("event", "event_id"), [("a\nb", None), (None, "1\r2")])
def test_line_breaks_in_names_or_ids_are_refused(event: str | None, event_id: str | None) -> None:
    with pytest.raises(ValueError):
        format_event("x", event, event_id)


def test_stream_ids_compare_numerically() -> None:
    assert stream_id("10-0") > stream_id("9-5")
    assert stream_id("5-10") > stream_id("5-9")
    assert stream_id("garbage") == (0, 0)
