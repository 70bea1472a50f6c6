"""Rate limits and the login slow-down, counted in Redis so every API process shares them."""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis

from filegate.errors import FilegateError
from filegate.state import access, keys
from filegate.state.access import RateCount
from filegate.state.scripts import AsyncState


class TooManyRequests(FilegateError):
    status_code = 429
    error = "too_many_requests"

    def __init__(self, detail: str, retry_after: int, **extra: object) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimiter:
    def __init__(self, state: AsyncState) -> None:
        self._state = state

    async def hit(self, name: str, caller: str, rate: tuple[int, int]) -> None:
        """Count a request of ``caller``; raises TooManyRequests past ``rate`` (count, seconds)."""
        await self.count(caller, RateCount(name, *rate))

    async def count(self, caller: str, count: RateCount) -> None:
        now_ms = int(time.time() * 1000)
        wait_ms = await self._state.run(access.rate(count.name, caller, *count.args(now_ms)))
        refuse_if_waiting(wait_ms, count)


def refuse_if_waiting(wait_ms: float, count: RateCount) -> None:
    """TooManyRequests when the rate script said to wait."""
    if float(wait_ms) > 0:
        retry_after = max(1, math.ceil(float(wait_ms) / 1000))
        raise TooManyRequests(
            f"more than {count.count} requests in {count.seconds} s; try again in {retry_after} s",
            retry_after=retry_after,
        )


class LoginThrottle:
    """After a few failed logins for a user name or from an address, each next try waits
    longer (1 s, 2 s, 4 s … up to a limit); a success clears the user's count."""

    WINDOW = 15 * 60

    def __init__(self, state: AsyncState, free_failures: int, max_delay: int) -> None:
        self._state = state
        self._redis: aioredis.Redis = state.client
        self._free = free_failures
        self._max_delay = max_delay

    @staticmethod
    def _who(username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username.lower()), ("addr", address)]

    async def check(self, username: str, address: str) -> None:
        """Raise TooManyRequests while this user name or address must wait."""
        for kind, who in self._who(username, address):
            remaining_ms = await self._redis.pttl(keys.login_wait(kind, who))
            if remaining_ms > 0:
                remaining = math.ceil(remaining_ms / 1000)
                raise TooManyRequests(
                    f"too many failed logins; try again in {remaining} s", retry_after=remaining
                )

    async def failed(self, username: str, address: str) -> None:
        for kind, who in self._who(username, address):
            await self._state.run(access.login_failure(kind, who, self._free, self._max_delay, self.WINDOW))

    async def succeeded(self, username: str) -> None:
        kind, who = self._who(username, "")[0]
        await self._redis.delete(keys.login_failures(kind, who), keys.login_wait(kind, who))
