"""The request log line: its route label and fields."""

from __future__ import annotations

from filegate.metrics.middleware import OTHER_ROUTE, request_fields, route_template


def test_an_unmatched_request_is_labelled_other_and_its_line_names_no_query() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/nowhere",
        "query_string": b"sig=secret",
        "client": ("10.1.2.3", 5),
    }
    assert route_template(scope) == OTHER_ROUTE
    fields = request_fields(scope, OTHER_ROUTE, 404, 22, 0.0123)
    assert fields == {
        "method": "GET",
        "route": "other",
        "path": "/nowhere",
        "status": 404,
        "duration_ms": 12.3,
        "bytes": 22,
        "client": "10.1.2.3",
    }
