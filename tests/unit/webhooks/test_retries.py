from __future__ import annotations

from filegate.webhooks.service import MAX_RETRY_DELAY_SECONDS, longest_retry_delay, retry_delay

NO_LIMIT = 10**9


def test_the_first_three_attempts_fall_within_a_minute_by_default() -> None:
    first_delay = 5  # FILEGATE_WEBHOOK_RETRY_DELAY's default
    third_attempt_at = retry_delay(first_delay, 0, NO_LIMIT) + retry_delay(first_delay, 1, NO_LIMIT)
    assert third_attempt_at < 60


def test_delays_double_up_to_an_hour() -> None:
    assert [retry_delay(2, n, NO_LIMIT) for n in range(4)] == [2, 4, 8, 16]
    assert retry_delay(5, 40, NO_LIMIT) == MAX_RETRY_DELAY_SECONDS


def test_a_delay_stays_within_the_brokers_redelivery_timeout() -> None:
    # FILEGATE_BUILD_TIMEOUT=3s: the Redis broker redelivers unacknowledged messages after 603 s.
    longest = longest_retry_delay(3)
    assert longest < 603
    assert retry_delay(5, 20, longest) == longest
    assert longest_retry_delay(12 * 3600) > MAX_RETRY_DELAY_SECONDS
