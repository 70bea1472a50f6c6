from __future__ import annotations

from filegate.webhooks.service import MAX_RETRY_DELAY_SECONDS, retry_delay


def test_the_first_three_attempts_fall_within_a_minute_by_default() -> None:
    first_delay = 5  # FILEGATE_WEBHOOK_RETRY_DELAY's default
    third_attempt_at = retry_delay(first_delay, 0) + retry_delay(first_delay, 1)
    assert third_attempt_at < 60


def test_delays_double_up_to_an_hour() -> None:
    assert [retry_delay(2, n) for n in range(4)] == [2, 4, 8, 16]
    assert retry_delay(5, 40) == MAX_RETRY_DELAY_SECONDS
