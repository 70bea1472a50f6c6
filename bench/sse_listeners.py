"""Many listeners on one ticket's event stream: delivery latency, lost events, refused connections.

Each listener is an asyncio Protocol on a raw socket (httpx lags above ~500 streams). A thread
appends progress events to the ticket's Redis stream at a steady rate, as a build's worker would;
each event carries its sequence number and the moment it was appended (``perf_counter`` of this
process), so a listener knows every event's delay on arrival and which ones never came.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import redis

from latency import percentile
from raw_http import stream_request

_MARK = re.compile(rb'"bench_seq": (\d+), "bench_sent": ([0-9.]+)')


class Listener(asyncio.Protocol):
    """One open event stream: its status, and each marked event's delay (s) by sequence number."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._buffer = b""
        self.status: int | None = None
        self.headed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.delays: dict[int, float] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        arrived = time.perf_counter()
        self._buffer += data
        if self.status is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self._buffer.split(b" ", 2)[1])
            self._buffer = self._buffer[end + 4 :]
            if not self.headed.done():
                self.headed.set_result(self.status)
            if self.status != 200:
                self.close()
                return
        cut = self._buffer.rfind(b"\n\n")
        if cut < 0:
            return
        for match in _MARK.finditer(self._buffer, 0, cut):
            self.delays.setdefault(int(match.group(1)), arrived - float(match.group(2)))
        self._buffer = self._buffer[cut + 2 :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.headed.done():
            self.headed.set_exception(ConnectionError(f"closed before an answer: {exc}"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_listener(port: int, target: str, timeout_seconds: float) -> Listener:
    """A listener whose answer has begun (raises when it could not connect or got no answer)."""
    loop = asyncio.get_running_loop()
    request = stream_request(target, port)
    _, listener = await asyncio.wait_for(
        loop.create_connection(lambda: Listener(request), "127.0.0.1", port), timeout_seconds
    )
    try:
        await asyncio.wait_for(asyncio.shield(listener.headed), timeout_seconds)
    except BaseException:
        listener.close()
        raise
    return listener


@dataclass
class Opened:
    listeners: list[Listener] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    """Status → count of answers other than 200."""
    failed: int = 0
    """No answer: connection refused or reset, or no status within the timeout."""
    seconds: list[float] = field(default_factory=list)
    """Time from opening to the status line, per listener answered 200."""


async def open_many(port: int, target: str, count: int, batch: int, timeout_seconds: float = 30) -> Opened:
    """``count`` listeners, ``batch`` at a time (each batch answered before the next opens)."""
    opened = Opened()

    async def one() -> None:
        started = time.perf_counter()
        try:
            listener = await open_listener(port, target, timeout_seconds)
        except (OSError, TimeoutError, ConnectionError):
            opened.failed += 1
            return
        if listener.status == 200:
            opened.listeners.append(listener)
            opened.seconds.append(time.perf_counter() - started)
        else:
            opened.refused[listener.headed.result()] = opened.refused.get(listener.headed.result(), 0) + 1

    for start in range(0, count, batch):
        size = min(batch, count - start)
        before = len(opened.listeners)
        await asyncio.gather(*(one() for _ in range(size)))
        if size > 1 and len(opened.listeners) == before and batch < count:
            break  # a whole batch unanswered: the rest would only wait out their timeouts too
    return opened


def progress_event(seq: int, total: int) -> str:
    """A progress event as a build writes it (archive/builder.py Progress.to_dict), marked."""
    files_total, bytes_total = 3, 3 * 4096
    files_done = min(files_total, seq * files_total // total)
    data = {
        "files_done": files_done,
        "files_total": files_total,
        "bytes_done": seq * bytes_total // total,
        "bytes_total": bytes_total,
        "percent": round(100 * seq / total, 1),
        "part": 1,
        "parts_total": 1,
        "bench_seq": seq,
        "bench_sent": time.perf_counter(),
    }
    return json.dumps(data)


def append_events(
    client: redis.Redis, key: str, count: int, per_second: float, stop: threading.Event
) -> None:
    """``count`` progress events into stream ``key``, evenly spaced (as the worker's script does:
    XADD with MAXLEN ~ 1000)."""
    started = time.perf_counter()
    for seq in range(1, count + 1):
        delay = started + (seq - 1) / per_second - time.perf_counter()
        if stop.wait(max(0.0, delay)):
            return
        client.xadd(key, {"event": "progress", "data": progress_event(seq, count)}, maxlen=1000)


@dataclass
class Delivery:
    listeners: int
    events: int
    delays: list[float]
    lost: int
    listeners_missing: int
    loop_lag_p99: float
    loop_lag_max: float

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.delays) * 1000 if self.delays else float("nan")

    @property
    def p99_ms(self) -> float:
        return percentile(self.delays, 0.99) * 1000 if self.delays else float("nan")

    @property
    def max_ms(self) -> float:
        return max(self.delays) * 1000 if self.delays else float("nan")


async def _loop_lag(samples: list[float], stop: asyncio.Event, tick: float = 0.01) -> None:
    """How late this process's own event loop wakes: the client's share of the delays."""
    while not stop.is_set():
        expected = time.perf_counter() + tick
        await asyncio.sleep(tick)
        samples.append(max(0.0, time.perf_counter() - expected))


async def deliver(
    listeners: list[Listener],
    append: Callable[[threading.Event], None],
    events: int,
    grace_seconds: float = 5,
) -> Delivery:
    """Run ``append`` in a thread, then wait until every listener has every event (or the grace
    period after the last event passed); what arrived."""
    stop_thread, stop_lag = threading.Event(), asyncio.Event()
    lag: list[float] = []
    lag_task = asyncio.create_task(_loop_lag(lag, stop_lag))
    writer = threading.Thread(target=append, args=(stop_thread,), name="bench-event-writer")
    writer.start()
    try:
        await asyncio.to_thread(writer.join)
        for _ in range(int(grace_seconds / 0.05)):
            if all(len(one.delays) >= events for one in listeners):
                break
            await asyncio.sleep(0.05)
    finally:
        stop_thread.set()
        writer.join()
        stop_lag.set()
        with contextlib.suppress(asyncio.CancelledError):
            await lag_task
    delays = [delay for one in listeners for delay in one.delays.values()]
    missing = [events - len(one.delays) for one in listeners]
    return Delivery(
        listeners=len(listeners),
        events=events,
        delays=delays,
        lost=sum(missing),
        listeners_missing=sum(1 for count in missing if count),
        loop_lag_p99=percentile(lag, 0.99) if lag else 0.0,
        loop_lag_max=max(lag, default=0.0),
    )
