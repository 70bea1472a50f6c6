"""The ticket service's pure parts: the download's name."""

from __future__ import annotations

from filegate.tickets.service import archive_name


def test_archive_name_defaults_to_the_single_item_or_download() -> None:
    assert archive_name(None, "photos/2023", 1) == "2023"
    assert archive_name(None, "reports/2023.pdf", 1) == "2023"
    assert archive_name(None, "a", 2) == "download"
    assert archive_name(" holiday.ZIP ", "a", 1) == "holiday"
    assert archive_name("Q3: results?", "a", 1) == "Q3_ results_"
    assert archive_name(None, "con.txt", 1) == "con_"
