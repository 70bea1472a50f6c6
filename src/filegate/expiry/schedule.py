"""The sweep's schedule, with no single process to keep alive.

Every worker of the cleanup queue offers a sweep once an interval (and so does `filegate beat`,
where one still runs). Interval number ``now // interval`` is a Redis key that the first sweep
of the interval sets (SET NX, kept two intervals): that one runs, the others see it taken and
end at once. So with any number of workers each interval has one sweep, and losing any of them
loses none, without a lock to hand over: a key per interval expires by itself.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import redis

from filegate.state import keys

log = logging.getLogger(__name__)


def claim_sweep(client: redis.Redis, interval_seconds: int, now: float | None = None) -> int | None:
    """The number of the interval this sweep may run in, or None when another has run in it."""
    slot = int((time.time() if now is None else now) // interval_seconds)
    taken = client.set(keys.sweep_slot(slot), "1", nx=True, ex=2 * interval_seconds)
    return slot if taken else None


class SweepOffers:
    """A thread that calls ``offer`` once an interval, early in each one: a little after it
    starts, at a random point of its first tenth, so that many workers do not all ask at once."""

    def __init__(self, interval_seconds: int, offer: Callable[[], None]) -> None:
        self._interval = interval_seconds
        self._offer = offer
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filegate-sweep-offers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while True:
            now = time.time()
            next_start = (now // self._interval + 1) * self._interval
            if self._stopped.wait(next_start - now + random.uniform(0, self._interval / 10)):
                return
            try:
                self._offer()
            except Exception:  # the broker may be away for a while: the next interval tries again
                log.exception("could not offer the sweep")
