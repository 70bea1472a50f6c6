"""The API's shared script connection (filegate.state.pipeline) against a real Redis: every caller
gets its own answer, on the right database, after Redis forgets its scripts or drops the
connection, and a Redis that does not answer is given up."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from filegate.state.pipeline import Address, PipelinedScripts

DATABASE = 63
ECHO = "redis.call('incr', KEYS[1]) return {ARGV[1], redis.call('get', KEYS[1])}"
FAIL = "return redis.error_reply('refused: ' .. ARGV[1])"


def sha1(client: redis.Redis, source: str) -> str:
    digest: str = client.script_load(source)
    return digest


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_url}/{DATABASE}", decode_responses=True)
    connection.flushdb()
    yield connection
    connection.close()


@pytest.fixture
def address(redis_url: str) -> Address:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None
    return Address(host=parts.hostname, port=parts.port, db=DATABASE, timeout=5)


@pytest.fixture
async def pipe(address: Address) -> AsyncIterator[PipelinedScripts]:
    scripts = PipelinedScripts(address)
    yield scripts
    await scripts.aclose()


async def test_many_callers_at_once_each_get_their_own_answer(
    client: redis.Redis, pipe: PipelinedScripts
) -> None:
    sha = sha1(client, ECHO)

    answers = await asyncio.gather(
        *(pipe.evalsha(sha, ECHO, ("counter",), (f"call-{n}",)) for n in range(500))
    )

    assert [answer[0] for answer in answers] == [f"call-{n}" for n in range(500)]
    # Sent in that order on one connection, so Redis ran them in that order too.
    assert [answer[1] for answer in answers] == [str(n) for n in range(1, 501)]
    assert client.get("counter") == "500"  # on the pipe's database, not database 0


async def test_a_script_redis_has_forgotten_is_loaded_again(
    client: redis.Redis, pipe: PipelinedScripts
) -> None:
    sha = sha1(client, ECHO)
    assert (await pipe.evalsha(sha, ECHO, ("counter",), ("first",)))[1] == "1"

    client.script_flush()

    assert await pipe.evalsha(sha, ECHO, ("counter",), ("again",)) == ["again", "2"]
    assert client.script_exists(sha) == [True]


async def test_an_error_answers_its_own_caller_only(client: redis.Redis, pipe: PipelinedScripts) -> None:
    echo, fail = sha1(client, ECHO), sha1(client, FAIL)

    answers = await asyncio.gather(
        pipe.evalsha(echo, ECHO, ("counter",), ("before",)),
        pipe.evalsha(fail, FAIL, (), ("no",)),
        pipe.evalsha(echo, ECHO, ("counter",), ("after",)),
        return_exceptions=True,
    )

    assert answers[0] == ["before", "1"]
    assert isinstance(answers[1], ResponseError) and "refused: no" in str(answers[1])
    assert answers[2] == ["after", "2"]


async def test_a_cancelled_caller_leaves_the_others_their_answers(
    client: redis.Redis, pipe: PipelinedScripts
) -> None:
    sha = sha1(client, ECHO)
    calls = [asyncio.ensure_future(pipe.evalsha(sha, ECHO, ("counter",), (f"call-{n}",))) for n in range(20)]
    await asyncio.sleep(0)  # every call is on its way
    calls[7].cancel()

    answers = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(answers[7], asyncio.CancelledError)
    assert [answer[0] for n, answer in enumerate(answers) if n != 7] == [
        f"call-{n}" for n in range(20) if n != 7
    ]


async def test_a_dropped_connection_is_opened_again_at_the_next_call(
    client: redis.Redis, pipe: PipelinedScripts
) -> None:
    sha = sha1(client, ECHO)
    await pipe.evalsha(sha, ECHO, ("counter",), ("first",))
    ours = pipe_connections(client)
    assert len(ours) == 1
    client.client_kill_filter(_id=ours[0]["id"])
    await asyncio.sleep(0.1)  # the close reaches the API's side

    assert await pipe.evalsha(sha, ECHO, ("counter",), ("second",)) == ["second", "2"]
    assert len(pipe_connections(client)) == 1


async def test_credentials_are_sent_before_the_first_call(client: redis.Redis, address: Address) -> None:
    client.acl_setuser(
        "pipeline-test", enabled=True, passwords=["+right-password"], keys=["*"], commands=["+@all"]
    )
    sha = sha1(client, ECHO)
    right = PipelinedScripts(replace(address, username="pipeline-test", password="right-password"))
    wrong = PipelinedScripts(replace(address, username="pipeline-test", password="wrong"))
    try:
        assert await right.evalsha(sha, ECHO, ("counter",), ("in",)) == ["in", "1"]
        assert any(entry["user"] == "pipeline-test" for entry in client.client_list())
        with pytest.raises(ResponseError, match="WRONGPASS"):
            await wrong.evalsha(sha, ECHO, ("counter",), ("out",))
        assert client.get("counter") == "1"
    finally:
        await right.aclose()
        await wrong.aclose()
        client.acl_deluser("pipeline-test")


async def test_a_redis_that_does_not_answer_is_given_up() -> None:
    with silent_server() as port:
        pipe = PipelinedScripts(Address(port=port, timeout=0.5))
        started = time.monotonic()
        try:
            with pytest.raises(TimeoutError, match=r"did not answer within 0\.5 s"):
                await pipe.evalsha("0" * 40, ECHO, ("counter",), ("lost",))
        finally:
            await pipe.aclose()
    # Three tries, each given up at the first check past its half second.
    assert 1.5 < time.monotonic() - started < 10


async def test_a_redis_that_is_not_there_raises_connection_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    pipe = PipelinedScripts(Address(port=port, timeout=1))
    with pytest.raises(ConnectionError, match="cannot connect to Redis"):
        await pipe.evalsha("0" * 40, ECHO, ("counter",), ("none",))
    await pipe.aclose()


def pipe_connections(client: redis.Redis) -> list[dict[str, str]]:
    """The connections on this module's database whose last command was a script's."""
    entries: list[dict[str, str]] = client.client_list()
    return [entry for entry in entries if entry["cmd"] == "evalsha" and entry["db"] == str(DATABASE)]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]
