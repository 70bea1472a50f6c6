"""The Redis scripts of filegate.state, run against a real Redis through their typed wrappers:
what each one changes, what it refuses, and that none spells a status out."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest
import redis

from filegate.state import access, builds, keys, queue, tickets
from filegate.state.access import RateCount
from filegate.state.queue import POSITION_WINDOW, Limits
from filegate.state.scripts import SyncState, _lua_file, script_names
from filegate.state.states import BUILD_ALLOWED_FROM, BuildStatus, TicketStatus
from filegate.state.tickets import NewBuild
from tests.queue import queue_build

FULL = Limits(max_slots=0, budget=-1, free=-1, max_wait_ms=60_000)
"""Every build slot taken: what is queued stays queued."""
_numbers = itertools.count()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(f"{redis_url}/62", decode_responses=True)
    connection.flushdb()
    yield connection
    connection.close()


def claim(
    state: SyncState,
    fingerprint: str,
    score: int,
    limits: Limits | None = FULL,
    estimate: int = 100,
) -> tickets.Claim:
    """A ticket for ``fingerprint``, as a POST /download makes it."""
    number = next(_numbers)
    now_ms = int(time.time() * 1000)
    new = NewBuild(f"build-{number}", {"options": "{}"}, "[]", score, estimate)
    fields = {"owner": "app:test", "created_at": str(now_ms / 1000)}
    expires = time.time() + 3600
    return state.run(
        tickets.claim(
            fingerprint, f"ticket-{number}", fields, expires, int(expires) + 60, now_ms, new, "", limits
        )
    )


def position_of(client: redis.Redis, build_id: str) -> str | None:
    value: str | None = client.hget(keys.build(build_id), "position")
    return value


def test_no_script_spells_a_status_out() -> None:
    """The scripts name states through the generated tables (TS.ready, BS.queued), so renaming a
    state cannot leave a script behind."""
    statuses = {status.value for status in TicketStatus} | {status.value for status in BuildStatus}
    quoted = re.compile(r"""(['"])([a-z_]+)\1""")
    comment = re.compile(r"--.*$", re.MULTILINE)
    for name in script_names():
        own_text = comment.sub("", _own_text(name))
        spelled = {match.group(2) for match in quoted.finditer(own_text)} & statuses
        assert not spelled, f"{name}.lua quotes {sorted(spelled)}"


def _own_text(name: str) -> str:
    """The script and the library files it uses, without the generated tables."""
    text = _lua_file(f"{name}.lua")
    first = text.split("\n", 1)[0]
    uses = first.removeprefix("--! uses:").split() if first.startswith("--! uses:") else []
    return "\n".join([text, *(_lua_file("lib", f"{use}.lua") for use in uses if use != "shared")])


def test_a_new_build_joins_the_queue_at_its_place_and_one_like_it_joins_that_build(
    client: redis.Redis,
) -> None:
    state = SyncState(client)
    first = claim(state, "fp-a", 10)
    assert first.outcome == "new" and first.admitted == []
    assert client.zscore(keys.QUEUE, first.build_id) == 10
    assert position_of(client, first.build_id) == "1:waiting_for_slot"
    assert first.ticket["status"] == TicketStatus.QUEUED.value

    same = claim(state, "fp-a", 20)
    assert same.outcome == "joined" and same.build_id == first.build_id
    assert client.scard(keys.build_tickets(first.build_id)) == 2
    assert client.zcard(keys.QUEUE) == client.zcard(keys.QUEUE_BY_SIZE) == 1


def test_a_build_queued_at_the_tail_leaves_the_places_before_it_alone(client: redis.Redis) -> None:
    """Nothing admitted, nothing moved before it: the claim looks at places from its own on,
    which keeps a POST's Redis time the same at any depth."""
    state = SyncState(client)
    for number in range(5):
        queue_build(client, f"waiting-{number}", number * 10, 100)
    state.run(queue.dispatch(FULL, int(time.time() * 1000)))
    client.hset(keys.build("waiting-2"), "position", "marked")  # a dispatch would rewrite it

    tail = claim(state, "fp-tail", 1_000)
    assert position_of(client, tail.build_id) == "6:waiting_for_slot"
    assert position_of(client, "waiting-2") == "marked"

    # A request of higher priority lands before them: those behind it learn their new place.
    lifted = claim(state, "fp-lifted", 25)  # between waiting-2 and waiting-3
    assert position_of(client, lifted.build_id) == "4:waiting_for_slot"
    assert position_of(client, "waiting-3") == "5:waiting_for_slot"
    assert position_of(client, tail.build_id) == "7:waiting_for_slot"
    assert position_of(client, "waiting-2") == "marked"


def test_a_build_lifted_by_a_request_of_higher_priority_moves_and_those_it_passed_learn_it(
    client: redis.Redis,
) -> None:
    state = SyncState(client)
    for number in range(3):
        queue_build(client, f"waiting-{number}", 10 + number, 100)
    late = claim(state, "fp-late", 100)
    assert position_of(client, late.build_id) == "4:waiting_for_slot"

    lifted = claim(state, "fp-late", 1)
    assert lifted.outcome == "joined"
    assert client.zscore(keys.QUEUE, late.build_id) == 1
    assert position_of(client, late.build_id) == "1:waiting_for_slot"
    assert position_of(client, "waiting-0") == "2:waiting_for_slot"
    assert position_of(client, "waiting-2") == "4:waiting_for_slot"
    # only ever forward: a later request of lower priority leaves it where it is
    claim(state, "fp-late", 50)
    assert client.zscore(keys.QUEUE, late.build_id) == 1


def test_past_the_position_window_a_new_build_reads_no_place(client: redis.Redis) -> None:
    state = SyncState(client)
    for number in range(POSITION_WINDOW + 10):
        queue_build(client, f"waiting-{number}", number, 100)
    deep = claim(state, "fp-deep", 10**6)
    assert deep.outcome == "new"
    assert position_of(client, deep.build_id) is None  # the sweep places it (ALL_POSITIONS)
    assert client.zrank(keys.QUEUE, deep.build_id) == POSITION_WINDOW + 10


def test_a_claim_with_a_free_slot_admits_its_build_and_reserves_its_estimate(client: redis.Redis) -> None:
    state = SyncState(client)
    one_slot = Limits(max_slots=1, budget=1_000, free=-1, max_wait_ms=60_000)
    admitted = claim(state, "fp-one", 5, one_slot, estimate=400)
    assert [build_id for build_id, _ in admitted.admitted] == [admitted.build_id]
    assert client.sismember(keys.RUNNING, admitted.build_id)
    assert client.get(keys.SPACE_RESERVED) == "400"
    waits = claim(state, "fp-two", 6, one_slot, estimate=400)
    assert waits.admitted == [] and client.zrank(keys.QUEUE, waits.build_id) == 0


def test_a_cancelled_queued_build_leaves_both_queue_indexes(client: redis.Redis) -> None:
    state = SyncState(client)
    queued = claim(state, "fp-cancel", 3)
    ticket_id = next(iter(client.smembers(keys.build_tickets(queued.build_id))))
    assert state.run(tickets.cancel(ticket_id)) == "dequeued"
    assert client.zcard(keys.QUEUE) == client.zcard(keys.QUEUE_BY_SIZE) == 0
    assert client.hget(keys.build(queued.build_id), "status") == BuildStatus.CANCELLED.value
    assert client.get(keys.fingerprint("fp-cancel")) is None
    assert state.run(tickets.cancel(ticket_id)) == "final"  # nothing left to cancel


@pytest.mark.parametrize(
    ("start", "to"),
    [(start, to) for to in BuildStatus for start in BuildStatus if start not in BUILD_ALLOWED_FROM[to]],
)
def test_a_build_change_its_state_does_not_allow_is_refused_and_changes_nothing(
    client: redis.Redis, start: BuildStatus, to: BuildStatus
) -> None:
    state = SyncState(client)
    client.hset(keys.build("b"), mapping={"status": start.value, "estimate": 1})
    assert state.run(builds.transition("b", to, {}, {"error": "x"})) == -1
    assert client.hgetall(keys.build("b")) == {"status": start.value, "estimate": "1"}


def test_an_allowed_build_change_reaches_every_ticket_holding_it(client: redis.Redis) -> None:
    state = SyncState(client)
    queued = claim(state, "fp-change", 1)
    claim(state, "fp-change", 1)
    changed = state.run(builds.transition(queued.build_id, BuildStatus.BUILDING, {}, {}))
    assert changed == 2
    for ticket_id in client.smembers(keys.build_tickets(queued.build_id)):
        assert client.hget(keys.ticket(ticket_id), "status") == TicketStatus.PREPARING.value
        events = client.xrange(keys.ticket_events(ticket_id))
        assert events[-1][1]["event"] == "status"


def test_an_api_keys_lookup_counts_its_request_in_the_same_trip(client: redis.Redis) -> None:
    state = SyncState(client)
    client.set(keys.api_key("digest-1"), "app-1")
    client.hset(keys.app("app-1"), mapping={"name": "one"})
    per_minute = RateCount("download", 2, 60)
    now_ms = int(time.time() * 1000)
    found = [state.run(access.app_for_key("digest-1", per_minute, now_ms)) for _ in range(3)]
    assert [app.wait_ms for app in found if app] == [0, 0, 30_000]
    assert found[0] is not None and found[0].app_id == "app-1" and found[0].fields == {"name": "one"}
    assert client.exists(keys.rate("download", "app:app-1")) == 1
    # without a limit nothing is counted; an unknown key counts against no one
    assert state.run(access.app_for_key("digest-1")).wait_ms == 0  # type: ignore[union-attr]
    assert state.run(access.app_for_key("digest-unknown", per_minute, now_ms)) is None
    assert client.keys(f"{keys.PREFIX}rate:*") == [keys.rate("download", "app:app-1")]
