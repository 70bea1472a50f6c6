"""The sweep's schedule on the real Redis: one sweep an interval, whoever asks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from filegate.expiry.schedule import SweepOffers, claim_sweep

DATABASE = 28


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_url}/{DATABASE}")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_one_claim_an_interval_wins(client: redis.Redis) -> None:
    now = 1_000_000.5
    assert claim_sweep(client, 60, now) == 16_666
    assert claim_sweep(client, 60, now + 10) is None  # the same interval: taken
    assert claim_sweep(client, 60, now + 60) == 16_667
    assert 60 < client.ttl("filegate:sweep:slot:16666") <= 120  # it goes by itself


def test_many_claiming_at_once_make_one_sweep(client: redis.Redis) -> None:
    won: list[int | None] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        won.append(claim_sweep(client, 30, 5_000.0))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won, key=lambda slot: slot is None) == [166] + [None] * 7


def test_offers_come_once_an_interval_until_stopped() -> None:
    offered: list[float] = []
    offers = SweepOffers(1, lambda: offered.append(time.time()))
    offers.start()
    time.sleep(3.6)
    offers.stop()
    count = len(offered)
    time.sleep(1.2)
    assert 3 <= count <= 4 and len(offered) == count
    slots = [int(moment) for moment in offered]
    assert slots == sorted(set(slots))  # one in each second, early in it
    assert all(moment - int(moment) < 0.2 for moment in offered)


def test_an_offer_that_fails_does_not_stop_the_next() -> None:
    calls: list[int] = []

    def offer() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("the broker is away")

    offers = SweepOffers(1, offer)
    offers.start()
    time.sleep(2.5)
    offers.stop()
    assert len(calls) >= 2
