"""Parsing event streams and spacing reconnections."""

from __future__ import annotations

from filegate.client.events import Backoff, parse_stream


def test_events_are_parsed_with_their_ids_names_and_json_data() -> None:
    lines = [
        "retry: 3000",
        "",
        "id: 1-0",
        "event: status",
        'data: {"status": "queued", "ticket_id": "abc"}',
        "",
        ": keep-alive",
        "",
        "id: 2-0",
        "event: progress",
        'data: {"files_done": 1, "files_total": 2, "bytes_done": 5, "bytes_total": 10, "percent": 50.0,',
        'data:  "part": 1, "parts_total": 1}',
        "",
    ]
    events = list(parse_stream(lines))

    assert [(event.id, event.name) for event in events] == [("1-0", "status"), ("2-0", "progress")]
    assert events[0].status == "queued" and not events[0].is_final
    progress = events[1].progress
    assert progress is not None and progress.percent == 50.0 and progress.bytes_total == 10


def test_an_event_cut_before_its_blank_line_is_not_delivered() -> None:
    lines = ["id: 1-0", "event: status", 'data: {"status": "ready"}']
    assert list(parse_stream(lines)) == []


def test_a_final_status_is_final() -> None:
    (event,) = parse_stream(["id: 9-0", "event: status", 'data: {"status": "failed", "error": "x"}', ""])
    assert event.is_final and event.data["error"] == "x"


def test_backoff_doubles_up_to_its_ceiling() -> None:
    backoff = Backoff(first_seconds=0.5, max_seconds=3, attempts=5)
    assert [backoff.delay(failures) for failures in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
