"""The Lua scripts: read from ``lua/`` once, registered with a client, run by EVALSHA.

A script's first line may say what it uses (``--! uses: shared feed queue``):
``shared`` gives it local names for the shared keys (keys.SHARED), the others
are the files of ``lua/lib`` put before it in that order. Every script also
gets the key builders and the state tables. redis-py's ``register_script``
sends the SHA1 and loads the source only when Redis answers NOSCRIPT (after a
restart or a SCRIPT FLUSH), so a call carries its arguments, not the script.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio as aioredis

from filegate.state.keys import SHARED, lua_key_functions, lua_shared_keys
from filegate.state.pipeline import Address, PipelinedScripts
from filegate.state.states import lua_states

T = TypeVar("T")

FEED_MAXLEN = 10_000
"""About this many recent events stay in an owner's feed; a client further behind is told to resync."""
TICKET_EVENTS_MAXLEN = 1_000
"""Frequent events (progress, position) trim a ticket's stream to about this many."""

_USES = "--! uses:"


def _lua_file(*parts: str) -> str:
    return resources.files("filegate.state").joinpath("lua", *parts).read_text(encoding="utf-8")


def prelude(uses: list[str]) -> str:
    """What goes before a script that uses ``uses`` (see the module's docstring)."""
    parts = [
        lua_key_functions(),
        lua_states(),
        f"local FEED_MAXLEN = {FEED_MAXLEN}\nlocal TICKET_EVENTS_MAXLEN = {TICKET_EVENTS_MAXLEN}\n",
    ]
    for use in uses:
        parts.append(lua_shared_keys() if use == "shared" else _lua_file("lib", f"{use}.lua"))
    return "".join(parts)


@functools.cache
def source(name: str) -> str:
    """The whole text of script ``name`` as Redis runs it: the preludes it asks for, then itself."""
    text = _lua_file(f"{name}.lua")
    first_line = text.split("\n", 1)[0]
    uses = first_line.removeprefix(_USES).split() if first_line.startswith(_USES) else []
    return prelude(uses) + text


def script_names() -> list[str]:
    folder = resources.files("filegate.state").joinpath("lua")
    return sorted(item.name.removesuffix(".lua") for item in folder.iterdir() if item.name.endswith(".lua"))


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One run of a script, made by a typed wrapper (state/tickets.py, ...): either client runs it."""

    script: str
    keys: tuple[str, ...]
    args: tuple[str | int | float, ...]
    read: Callable[[Any], T]
    """Turns Redis's reply into ``T``."""

    @classmethod
    def shared(
        cls,
        script: str,
        own_keys: tuple[str, ...],
        args: tuple[str | int | float, ...],
        read: Callable[[Any], T],
    ) -> Call[T]:
        """A call of a script that takes the shared keys first."""
        return cls(script, SHARED + own_keys, args, read)


class SyncState:
    """The scripts on a synchronous client (workers, the CLI)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._scripts = {name: client.register_script(source(name)) for name in script_names()}

    def run(self, call: Call[T]) -> T:
        reply = self._scripts[call.script](keys=call.keys, args=call.args)
        return call.read(reply)


class AsyncState:
    """The scripts on the API's asyncio client: run on one connection of their own shared by
    every request (state/pipeline.py), at the client's address; through the client's pool
    where that is not handled there (TLS)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._scripts = {name: client.register_script(source(name)) for name in script_names()}
        pool = client.connection_pool
        address = Address.of(pool.connection_class, pool.connection_kwargs)
        self._pipe = PipelinedScripts(address) if address is not None else None

    async def run(self, call: Call[T]) -> T:
        script = self._scripts[call.script]
        if self._pipe is None:
            reply = await script(keys=call.keys, args=call.args)
        else:
            reply = await self._pipe.evalsha(script.sha, script.script, call.keys, call.args)
        return call.read(reply)

    async def aclose(self) -> None:
        """Closes the scripts' own connection (the client is closed by whoever made it)."""
        if self._pipe is not None:
            await self._pipe.aclose()
