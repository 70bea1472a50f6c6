"""The API's script calls, many requests' at once on one Redis connection.

redis-py's asyncio client takes a connection from its pool for every command, writes it, waits
for the answer and puts the connection back: about 80 µs of the API's CPU per call with 64
requests in flight, most of a POST /download's two calls. Here every call of one turn of the
event loop goes out in one write and their answers come back in order on the same connection
(Redis answers a connection's commands in the order they came): about 7 µs a call, and no pool
to run dry in a burst. Redis runs one script at a time anyway, so sharing the connection
delays nothing.

Only EVALSHA goes this way: nothing that blocks (XREAD BLOCK stays on its own connections).
A call that meets a dropped or restarted Redis is tried again up to twice, after 0.1 and
0.2 s, on a new connection, as the redis-py clients of ``filegate.connections`` do.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

_TRIES = 3
_FIRST_BACKOFF_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Address:
    """Where and how to connect: taken from a redis-py client so both reach the same database."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    """A Unix socket instead of host and port."""
    db: int = 0
    username: str | None = None
    password: str | None = None
    timeout: float | None = 10
    """Seconds an answer may take before the connection is given up (None: no limit)."""

    @classmethod
    def of(cls, pool_class: type, kwargs: dict[str, Any]) -> Address | None:
        """The address of a redis-py pool's connections; None for a kind not handled here (TLS)."""
        if pool_class is UnixDomainSocketConnection:
            place: dict[str, Any] = {"path": kwargs["path"]}
        elif pool_class is Connection:
            place = {"host": kwargs.get("host", "127.0.0.1"), "port": int(kwargs.get("port", 6379))}
        else:
            return None
        return cls(
            **place,
            db=int(kwargs.get("db") or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            timeout=kwargs.get("socket_timeout"),
        )


def _encoded(arg: str | int | float) -> str | bytes:
    """As redis-py sends it: floats by repr (hiredis would round them), the rest as text."""
    return repr(arg) if isinstance(arg, float) else str(arg) if isinstance(arg, int) else arg


class _Protocol(asyncio.Protocol):
    """One connection: commands written in batches, each answer given to the oldest waiter."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(encoding="utf-8", replyError=ResponseError)
        self.waiting: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while self.waiting:
            try:
                reply = self._reader.gets()
            except UnicodeDecodeError as exc:  # that answer is consumed; the next ones are fine
                self._answer(exception=ResponseError(f"the answer is not UTF-8 text: {exc}"))
                continue
            if reply is False:
                return
            if isinstance(reply, ResponseError):
                self._answer(exception=reply)
            else:
                self._answer(result=reply)

    def _answer(self, result: Any = None, exception: BaseException | None = None) -> None:
        _, waiter = self.waiting.popleft()
        if waiter.done():  # its caller was cancelled: the answer is dropped
            return
        if exception is not None:
            waiter.set_exception(exception)
        else:
            waiter.set_result(result)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.fail(ConnectionError(f"the connection to Redis was lost: {exc or 'closed by the server'}"))

    def fail(self, error: Exception) -> None:
        while self.waiting:
            _, waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def send(self, loop: asyncio.AbstractEventLoop, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        waiter: asyncio.Future[Any] = loop.create_future()
        self.waiting.append((time.monotonic(), waiter))
        if not self._outgoing:
            loop.call_soon(self._flush)
        encoded: Any = tuple(_encoded(arg) for arg in args)  # typeshed wants a 1-tuple
        self._outgoing.append(hiredis.pack_command(encoded))
        return waiter

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self.transport is not None and not self.lost:
            self.transport.write(b"".join(outgoing))


class PipelinedScripts:
    """EVALSHA on one shared connection, opened at the first call and again after a loss."""

    def __init__(self, address: Address) -> None:
        self._address = address
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def evalsha(self, sha: str, source: str, keys: tuple[str, ...], args: tuple[Any, ...]) -> Any:
        """Run the script whose SHA1 is ``sha``; loaded from ``source`` if Redis has forgotten it."""
        command = ("EVALSHA", sha, len(keys), *keys, *args)
        try:
            return await self._call(command)
        except ResponseError as exc:  # hiredis gives every error reply as a plain ResponseError
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self._call(("EVAL", source, len(keys), *keys, *args))

    async def _call(self, command: tuple[Any, ...]) -> Any:
        for attempt in range(_TRIES):
            try:
                protocol = await self._connected()
                return await protocol.send(asyncio.get_running_loop(), command)
            except (ConnectionError, TimeoutError, OSError):
                if attempt == _TRIES - 1:
                    raise
                await asyncio.sleep(_FIRST_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable")

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.lost:
                self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        address = self._address
        try:
            if address.path is not None:
                connecting = loop.create_unix_connection(_Protocol, address.path)
            else:
                connecting = loop.create_connection(_Protocol, address.host, address.port)
            _, protocol = await asyncio.wait_for(connecting, address.timeout)
        except OSError as exc:  # TimeoutError included
            raise ConnectionError(f"cannot connect to Redis: {exc}") from exc
        setup: list[tuple[Any, ...]] = []
        if address.password is not None:
            setup.append(("AUTH", *filter(None, (address.username, address.password))))
        if address.db:
            setup.append(("SELECT", address.db))
        try:
            for command in setup:
                await protocol.send(loop, command)
        except BaseException:
            assert protocol.transport is not None
            protocol.transport.close()
            raise
        if address.timeout is not None:
            self._watch(protocol, address.timeout)
        return protocol

    def _watch(self, protocol: _Protocol, timeout: float) -> None:
        """Every second (or ``timeout``, if shorter): an answer older than ``timeout`` gives up
        the connection, and every call waiting on it, with TimeoutError; the next call opens a
        new one."""
        interval = min(1.0, timeout)

        def check() -> None:
            if protocol.lost:
                return
            if protocol.waiting and time.monotonic() - protocol.waiting[0][0] > timeout:
                protocol.fail(TimeoutError(f"Redis did not answer within {timeout:g} s"))
                protocol.lost = True
                assert protocol.transport is not None
                protocol.transport.abort()
                return
            self._watchdog = asyncio.get_running_loop().call_later(interval, check)

        self._watchdog = asyncio.get_running_loop().call_later(interval, check)

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            await asyncio.sleep(0)  # lets the transport finish closing before the loop ends
