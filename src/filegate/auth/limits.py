"""Rate limits and the login slow-down, counted in Redis so every API process shares them."""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis

from filegate.errors import FilegateError

# GCRA (the generic cell rate algorithm): one key per caller holding the theoretical arrival
# time. ARGV: now (ms), emission interval (ms), burst. Returns 0 when allowed, else the
# milliseconds until the next request would be.
RATE_SCRIPT = """
local now, interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or ARGV[1]), now)
local new_tat = tat + interval
local wait = new_tat - now - burst * interval
if wait > 0 then return wait end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
"""

# ARGV: free failures, longest delay (s), window (s). Counts one more failure for the key;
# past the free ones each failure blocks the key for 1, 2, 4 ... seconds up to the longest.
FAILURE_SCRIPT = """
local failures = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local over = failures - tonumber(ARGV[1])
if over > 0 then
  local delay = math.min(2 ^ (over - 1), tonumber(ARGV[2]))
  redis.call('SET', KEYS[2], '1', 'EX', math.floor(delay))
end
return failures
"""


class TooManyRequests(FilegateError):
    status_code = 429
    error = "too_many_requests"

    def __init__(self, detail: str, retry_after: int, **extra: object) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimiter:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def hit(self, name: str, caller: str, rate: tuple[int, int]) -> None:
        """Count a request of ``caller``; raises TooManyRequests past ``rate`` (count, seconds)."""
        count, seconds = rate
        interval_ms = max(1, seconds * 1000 // count)
        wait_ms = await self._redis.eval(
            RATE_SCRIPT, 1, f"filegate:rate:{name}:{caller}", int(time.time() * 1000), interval_ms, count
        )
        if float(wait_ms) > 0:
            retry_after = max(1, math.ceil(float(wait_ms) / 1000))
            raise TooManyRequests(
                f"more than {count} requests in {seconds} s; try again in {retry_after} s",
                retry_after=retry_after,
            )


class LoginThrottle:
    """After a few failed logins for a user name or from an address, each next try waits
    longer (1 s, 2 s, 4 s … up to a limit); a success clears the user's count."""

    WINDOW = 15 * 60

    def __init__(self, client: aioredis.Redis, free_failures: int, max_delay: int) -> None:
        self._redis = client
        self._free = free_failures
        self._max_delay = max_delay

    @staticmethod
    def _keys(username: str, address: str) -> list[tuple[str, str]]:
        return [
            (
                f"filegate:login-failures:user:{username.lower()}",
                f"filegate:login-wait:user:{username.lower()}",
            ),
            (f"filegate:login-failures:addr:{address}", f"filegate:login-wait:addr:{address}"),
        ]

    async def check(self, username: str, address: str) -> None:
        """Raise TooManyRequests while this user name or address must wait."""
        for _, wait_key in self._keys(username, address):
            remaining_ms = await self._redis.pttl(wait_key)
            if remaining_ms > 0:
                remaining = math.ceil(remaining_ms / 1000)
                raise TooManyRequests(
                    f"too many failed logins; try again in {remaining} s", retry_after=remaining
                )

    async def failed(self, username: str, address: str) -> None:
        for count_key, wait_key in self._keys(username, address):
            await self._redis.eval(
                FAILURE_SCRIPT, 2, count_key, wait_key, self._free, self._max_delay, self.WINDOW
            )

    async def succeeded(self, username: str) -> None:
        count_key, wait_key = self._keys(username, "")[0]
        await self._redis.delete(count_key, wait_key)
