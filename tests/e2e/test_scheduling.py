"""filegate decides what runs: a build limit across workers, a space budget with backfill, priorities."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from filegate.scheduling.dispatcher import admissions
from filegate.state.keys import QUEUE_BY_SIZE as BY_SIZE
from filegate.state.queue import by_size_member
from filegate.state.scripts import SyncState
from tests.client import api_delete, api_get, current_state, request_download, wait_final
from tests.conftest import Deployment, deployed
from tests.queue import queue_build
from tests.services import service_env
from tests.sources import LocalSources
from tests.sse import read_all


def _span(deployment: Deployment, ticket_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """When the ticket's build started and ended, as Redis Stream ids (milliseconds, sequence)."""
    events = read_all(deployment.base_url, ticket_id)
    statuses = {m.json()["status"]: m.id for m in events if m.event == "status"}
    start, end = statuses["preparing"] or "", statuses["ready"] or ""

    def as_pair(stream_id: str) -> tuple[int, int]:
        millis, sequence = stream_id.split("-")
        return int(millis), int(sequence)

    return as_pair(start), as_pair(end)


def _most_at_once(spans: list[tuple[tuple[int, int], tuple[int, int]]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


@pytest.fixture(scope="module")
def one_slot(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """One build at a time allowed, three worker processes eager to run more."""
    home = workdir / "one-slot"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/9", home, FILEGATE_MAX_CONCURRENT_BUILDS="1")
    with deployed(home, env, LocalSources(home / "files")) as running:
        running.service.start_extra_worker(1)
        running.service.start_extra_worker(2)
        yield running


def test_twenty_simultaneous_requests_never_run_more_than_the_limit(one_slot: Deployment) -> None:
    root = one_slot.folder()
    for number in range(20):
        one_slot.sources.put(f"{root}/{number}/data.bin", os.urandom(2_000_000))
    tickets: list[str] = []

    def ask(number: int) -> None:
        response = request_download(one_slot.base_url, [f"{root}/{number}/"], compression="deflate")
        assert response.status_code == 202, response.text
        tickets.append(response.json()["ticket_id"])

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    states = [wait_final(one_slot.base_url, ticket, timeout=120) for ticket in tickets]
    assert all(state["status"] == "ready" for state in states)
    assert _most_at_once([_span(one_slot, ticket) for ticket in tickets]) == 1
    positions = [m for m in read_all(one_slot.base_url, tickets[-1]) if m.event == "position"]
    assert all(m.json()["reason"] == "waiting_for_slot" for m in positions)


def test_high_priority_overtakes_earlier_normal_and_low_requests(one_slot: Deployment) -> None:
    root = one_slot.folder()
    for name in ("blocker", "low", "normal", "high"):
        one_slot.sources.put(f"{root}/{name}/data.bin", os.urandom(1_000_000))
    one_slot.service.stop_build_workers()
    try:
        blocker = request_download(one_slot.base_url, [f"{root}/blocker/"]).json()["ticket_id"]
        low = request_download(one_slot.base_url, [f"{root}/low/"], priority="low").json()["ticket_id"]
        normal = request_download(one_slot.base_url, [f"{root}/normal/"]).json()["ticket_id"]
        high = request_download(one_slot.base_url, [f"{root}/high/"], priority="high").json()["ticket_id"]
    finally:
        one_slot.service.start_worker()
    for ticket in (blocker, low, normal, high):
        assert wait_final(one_slot.base_url, ticket)["status"] == "ready"
    starts = {name: _span(one_slot, ticket)[0] for name, ticket in
              (("blocker", blocker), ("low", low), ("normal", normal), ("high", high))}  # fmt: skip
    assert sorted(starts, key=starts.__getitem__) == ["blocker", "high", "normal", "low"]


def test_cancelling_a_queued_build_moves_those_behind_it_up(one_slot: Deployment) -> None:
    root = one_slot.folder()
    for name in ("blocker", "second", "third"):
        one_slot.sources.put(f"{root}/{name}/data.bin", os.urandom(100_000))
    one_slot.service.stop_build_workers()
    try:
        tickets = {
            name: request_download(one_slot.base_url, [f"{root}/{name}/"]).json()["ticket_id"]
            for name in ("blocker", "second", "third")
        }

        def third_position() -> int:
            return int(current_state(one_slot.base_url, tickets["third"])["position"]["position"])

        assert third_position() == 2
        cancelled = api_delete(one_slot.base_url, f"/ticket/{tickets['second']}", timeout=10)
        assert cancelled.status_code == 200, cancelled.text
        assert third_position() == 1
    finally:
        one_slot.service.start_worker()
    assert wait_final(one_slot.base_url, tickets["third"])["status"] == "ready"
    places = [
        m.json()["position"] for m in read_all(one_slot.base_url, tickets["third"]) if m.event == "position"
    ]
    assert places[-2:] == [2, 1]


@pytest.fixture(scope="module")
def small_budget(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """A 1 MB space budget, two build slots, expiry sweeps every second."""
    home = workdir / "budget"
    (home / "files").mkdir(parents=True)
    env = service_env(
        f"{redis_url}/10",
        home,
        FILEGATE_SPACE_BUDGET="1MB",
        FILEGATE_MAX_CONCURRENT_BUILDS="2",
        FILEGATE_SWEEP_INTERVAL="1s",
        FILEGATE_EXPIRED_GRACE="30s",
    )
    with deployed(home, env, LocalSources(home / "files"), cleanup=True) as running:
        yield running


def test_a_build_larger_than_the_whole_budget_is_refused_at_once(small_budget: Deployment) -> None:
    root = small_budget.folder()
    small_budget.sources.put(f"{root}/huge.bin", os.urandom(1_200_000))
    response = request_download(small_budget.base_url, [f"{root}/"])
    assert response.status_code == 413
    assert response.json()["limit"] == "space_budget"


def test_smaller_builds_overtake_one_that_waits_for_space(small_budget: Deployment) -> None:
    root = small_budget.folder()
    small_budget.sources.put(f"{root}/held/data.bin", os.urandom(500_000))
    small_budget.sources.put(f"{root}/big/data.bin", os.urandom(800_000))
    for number in range(3):
        small_budget.sources.put(f"{root}/small{number}/data.bin", os.urandom(50_000))
    held = request_download(small_budget.base_url, [f"{root}/held/"], expires_in="4s").json()
    assert wait_final(small_budget.base_url, held["ticket_id"])["status"] == "ready"

    big = request_download(small_budget.base_url, [f"{root}/big/"]).json()["ticket_id"]
    smalls = [
        request_download(small_budget.base_url, [f"{root}/small{number}/"]).json()["ticket_id"]
        for number in range(3)
    ]
    for ticket in smalls:
        assert wait_final(small_budget.base_url, ticket)["status"] == "ready"
    assert (
        api_get(
            small_budget.base_url, f"/ticket/{big}/status", headers={"Accept": "application/json"}
        ).json()["status"]
        == "queued"
    )

    final = wait_final(small_budget.base_url, big, timeout=60)

    assert final["status"] == "ready"
    events = read_all(small_budget.base_url, big)
    reasons = [m.json()["reason"] for m in events if m.event == "position"]
    assert reasons and reasons[0] == "waiting_for_space"
    big_start = _span(small_budget, big)[0]
    assert all(_span(small_budget, ticket)[1] < big_start for ticket in smalls)


def test_two_dispatchers_at_once_never_over_admit(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import Limits

    client = redis.Redis.from_url(f"{redis_url}/11", decode_responses=True)
    client.flushdb()
    for number in range(40):
        queue_build(client, f"b{number}", number, 100)
    registry = BuildRegistry(SyncState(client))
    limits = Limits(max_slots=5, budget=350, free=-1, max_wait_ms=10**9)
    admitted: list[str] = []

    def dispatch() -> None:
        for _ in range(20):
            admitted.extend(a.build_id for a in admissions(registry.dispatch(limits)))

    threads = [threading.Thread(target=dispatch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(admitted) == len(set(admitted)) == 3  # 3 x 100 bytes fit in 350
    assert client.scard("filegate:running") == 3
    assert int(client.get("filegate:space:reserved") or 0) == 300


def _queue(client: redis.Redis, builds: dict[str, tuple[int, int]]) -> None:
    """Queue builds: name → (estimate bytes, queued at ms), in the order given."""
    for order, (name, (estimate, queued_at)) in enumerate(builds.items()):
        queue_build(client, name, order, estimate, queued_at)


def test_backfill_stops_once_the_passed_over_build_has_waited_too_long(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import Limits

    client = redis.Redis.from_url(f"{redis_url}/13", decode_responses=True)
    registry = BuildRegistry(SyncState(client))
    limits = Limits(max_slots=5, budget=1000, free=-1, max_wait_ms=5_000)
    now_ms = int(time.time() * 1000)

    # Fresh: the big build does not fit beside 600 held bytes, so small ones overtake it.
    client.flushdb()
    client.set("filegate:space:held", 600)
    _queue(client, {"big": (500, now_ms), **{f"small{n}": (100, now_ms) for n in range(5)}})
    assert [a.build_id for a in admissions(registry.dispatch(limits))] == [
        "small0",
        "small1",
        "small2",
        "small3",
    ]

    # Passed over for longer than max_wait: nothing overtakes it any more, until it fits.
    client.flushdb()
    client.set("filegate:space:held", 600)
    _queue(client, {"big": (500, now_ms - 10_000), **{f"small{n}": (100, now_ms) for n in range(5)}})
    assert [a.build_id for a in admissions(registry.dispatch(limits))] == []
    assert client.hget("filegate:build:big", "position") == "1:waiting_for_space"
    assert client.hget("filegate:build:small0", "position") == "2:waiting_for_space"
    client.set("filegate:space:held", 0)
    assert [a.build_id for a in admissions(registry.dispatch(limits))] == [
        "big",
        "small0",
        "small1",
        "small2",
        "small3",
    ]


def test_admitted_builds_carry_their_priority_to_the_broker(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.scheduling.dispatcher import queue_score
    from filegate.state.queue import Limits, Priority

    client = redis.Redis.from_url(f"{redis_url}/11", decode_responses=True)
    client.flushdb()
    now_ms = int(time.time() * 1000)
    for name, priority in [("late-high", Priority.HIGH), ("low", Priority.LOW), ("normal", Priority.NORMAL)]:
        queue_build(client, name, queue_score(priority, now_ms + len(name)), 1, now_ms)
    admitted = admissions(
        BuildRegistry(SyncState(client)).dispatch(Limits(max_slots=5, budget=-1, free=-1, max_wait_ms=0))
    )

    assert [(a.build_id, a.priority) for a in admitted] == [
        ("late-high", Priority.HIGH),
        ("normal", Priority.NORMAL),
        ("low", Priority.LOW),
    ]


def test_a_build_about_to_expire_is_not_overtaken(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import Limits

    client = redis.Redis.from_url(f"{redis_url}/13", decode_responses=True)
    registry = BuildRegistry(SyncState(client))
    limits = Limits(max_slots=5, budget=1000, free=-1, max_wait_ms=60_000)
    now_ms = int(time.time() * 1000)
    client.flushdb()
    client.set("filegate:space:held", 600)
    _queue(client, {"big": (500, now_ms), **{f"small{n}": (100, now_ms) for n in range(3)}})
    # Its tickets expire in 30 s, less than max_wait: it could not afford to wait behind others.
    client.hset("filegate:build:big", "expires_at", repr(now_ms / 1000 + 30))

    assert admissions(registry.dispatch(limits)) == []
    assert client.hget("filegate:build:big", "position") == "1:waiting_for_space"

    client.hset("filegate:build:big", "expires_at", repr(now_ms / 1000 + 3600))
    assert [a.build_id for a in admissions(registry.dispatch(limits))] == ["small0", "small1", "small2"]


def test_an_admitted_build_whose_message_was_lost_gets_its_slot_back(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import UNSTARTED_SECONDS, Limits

    client = redis.Redis.from_url(f"{redis_url}/13", decode_responses=True)
    registry = BuildRegistry(SyncState(client))
    client.flushdb()
    now_ms = int(time.time() * 1000)
    _queue(client, {"lost": (100, now_ms), "dropped": (100, now_ms), "waiting": (100, now_ms)})
    for name in ("lost", "dropped", "waiting"):
        client.hset(f"filegate:build:{name}", mapping={"status": "queued", "score": 1})
    limits = Limits(max_slots=3, budget=-1, free=-1, max_wait_ms=60_000)
    assert (
        len(admissions(registry.dispatch(limits))) == 3
        and int(client.get("filegate:space:reserved") or 0) == 300
    )
    long_ago = now_ms - (UNSTARTED_SECONDS + 60) * 1000
    client.hset("filegate:build:lost", "admitted_at", long_ago)
    client.hset("filegate:build:dropped", mapping={"admitted_at": long_ago, "status": "cancelled"})

    assert registry.reclaim_lost() == ["lost"]

    assert client.smembers("filegate:running") == {"waiting"}
    assert client.zrange("filegate:queue", 0, -1) == ["lost"]
    assert client.zrange(BY_SIZE, 0, -1) == [by_size_member(1, "lost")]
    assert int(client.get("filegate:space:reserved") or 0) == 100


def test_backfill_takes_the_largest_fitting_build_first(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import Limits

    client = redis.Redis.from_url(f"{redis_url}/13", decode_responses=True)
    registry = BuildRegistry(SyncState(client))
    client.flushdb()
    now_ms = int(time.time() * 1000)
    client.set("filegate:space:held", 500)
    _queue(
        client,
        {
            "first": (100, now_ms),
            "huge": (800, now_ms),  # does not fit beside the 500 held bytes
            "small": (100, now_ms),
            "medium": (300, now_ms),
            "small2": (100, now_ms),
        },
    )
    admitted = admissions(registry.dispatch(Limits(max_slots=3, budget=1100, free=-1, max_wait_ms=60_000)))

    # In order while each fits; behind the one passed over, the largest that fits first.
    assert [a.build_id for a in admitted] == ["first", "medium", "small"]
    assert client.hget("filegate:build:huge", "position") == "1:waiting_for_space"
    assert client.hget("filegate:build:small2", "position") == "2:waiting_for_slot"


def _queue_and_index(client: redis.Redis) -> tuple[set[str], set[str]]:
    """The queue's members as the index by size should hold them, and what the index holds."""
    queued = client.zrange("filegate:queue", 0, -1, withscores=True)
    expected = {by_size_member(int(score), build_id) for build_id, score in queued}
    return expected, set(client.zrange(BY_SIZE, 0, -1))


def test_the_index_by_size_follows_the_queue_through_lifts_joins_and_cancels(one_slot: Deployment) -> None:
    root = one_slot.folder()
    for name in ("blocker", "a", "b"):
        one_slot.sources.put(f"{root}/{name}/data.bin", os.urandom(100_000))
    client = redis.Redis.from_url(one_slot.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
    one_slot.service.stop_build_workers()
    try:
        blocker = request_download(one_slot.base_url, [f"{root}/blocker/"]).json()["ticket_id"]
        a = request_download(one_slot.base_url, [f"{root}/a/"], priority="low").json()["ticket_id"]
        request_download(one_slot.base_url, [f"{root}/b/"])
        blocker_build, a_build = one_slot.build_id(blocker), one_slot.build_id(a)
        assert client.sismember("filegate:running", blocker_build)  # admitted, never started
        low_score = client.zscore("filegate:queue", a_build)

        # The same request at high priority lifts the waiting build, in both sets.
        assert request_download(one_slot.base_url, [f"{root}/a/"], priority="high").status_code == 202
        assert (client.zscore("filegate:queue", a_build) or 0) < (low_score or 0)
        expected, index = _queue_and_index(client)
        assert expected == index and len(index) == 2
        assert client.zrange("filegate:queue", 0, 0) == [a_build]

        # Joining the admitted build, even at high priority, does not queue it a second time.
        assert request_download(one_slot.base_url, [f"{root}/blocker/"], priority="high").status_code == 202
        assert client.zscore("filegate:queue", blocker_build) is None
        assert _queue_and_index(client)[0] == _queue_and_index(client)[1]

        # Cancelling every ticket of a waiting build takes it out of both.
        for ticket in client.smembers(f"filegate:build:{a_build}:tickets"):
            assert api_delete(one_slot.base_url, f"/ticket/{ticket}").status_code == 200
        assert client.zscore("filegate:queue", a_build) is None
        expected, index = _queue_and_index(client)
        assert expected == index and len(index) == 1
    finally:
        one_slot.service.start_worker()


def test_each_dispatch_places_the_first_hundred_and_the_sweep_everyone(redis_url: str) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import ALL_POSITIONS, POSITION_WINDOW, Limits

    client = redis.Redis.from_url(f"{redis_url}/13", decode_responses=True)
    client.flushdb()
    for number in range(POSITION_WINDOW + 50):
        queue_build(client, f"b{number}", number, 100)
    registry = BuildRegistry(SyncState(client))
    full = Limits(max_slots=0, budget=-1, free=-1, max_wait_ms=60_000)  # every slot taken

    assert admissions(registry.dispatch(full)) == []
    assert client.hget("filegate:build:b0", "position") == "1:waiting_for_slot"
    last_placed = f"filegate:build:b{POSITION_WINDOW - 1}"
    assert client.hget(last_placed, "position") == f"{POSITION_WINDOW}:waiting_for_slot"
    assert client.hget(f"filegate:build:b{POSITION_WINDOW}", "position") is None

    assert admissions(registry.dispatch(full, ALL_POSITIONS)) == []
    deepest = f"filegate:build:b{POSITION_WINDOW + 49}"
    assert client.hget(deepest, "position") == f"{POSITION_WINDOW + 50}:waiting_for_slot"


def test_a_queue_without_its_index_by_size_gets_one_at_the_next_dispatch(redis_url: str) -> None:
    """What an upgrade from a release that kept only the queue by score finds."""
    from filegate.archive.registry import BuildRegistry
    from filegate.state.queue import Limits

    client = redis.Redis.from_url(f"{redis_url}/13", decode_responses=True)
    client.flushdb()
    client.set("filegate:space:held", 500)
    now_ms = int(time.time() * 1000)
    for order, (name, estimate) in enumerate([("huge", 800), ("small", 100), ("medium", 300)]):
        client.hset(f"filegate:build:{name}", mapping={"estimate": estimate, "queued_at": now_ms})
        client.zadd("filegate:queue", {name: order})

    admitted = admissions(
        BuildRegistry(SyncState(client)).dispatch(
            Limits(max_slots=3, budget=1100, free=-1, max_wait_ms=60_000)
        )
    )

    assert [a.build_id for a in admitted] == ["medium", "small"]  # backfill found them
    assert client.zrange(BY_SIZE, 0, -1) == [by_size_member(0, "huge")]


def test_an_auto_budget_is_the_output_folders_free_space_minus_the_reserve(tmp_path: Path) -> None:
    from filegate.scheduling.dispatcher import current_limits
    from filegate.settings import Settings

    output_dir = tmp_path / "archives"
    settings = Settings(storage="local", output_dir=output_dir, space_budget="auto", space_reserve="1GB")
    limits = current_limits(settings, 2)
    free = shutil.disk_usage(tmp_path).free

    assert limits.budget == -1  # no fixed budget: the free space decides
    # Other programs write on this disk meanwhile: close, not exact.
    assert abs(limits.free - max(0, free - 1000**3)) < 100 * 1000**2

    beyond = shutil.disk_usage(tmp_path).total + 1000**4
    assert current_limits(settings.model_copy(update={"space_reserve": beyond}), 2).free == 0
    s3 = Settings(storage="s3", output_dir=output_dir, space_budget="auto", space_reserve=str(beyond))
    assert current_limits(s3, 2).free == -1  # S3: no limit


def test_with_an_auto_budget_a_build_waits_while_the_free_space_is_below_the_reserve(
    redis_url: str, workdir: Path
) -> None:
    home = workdir / "auto-budget"
    (home / "files").mkdir(parents=True)
    # More than the file system could ever have free: nothing fits, however small.
    reserve = shutil.disk_usage(home).total + 1000**4
    env = service_env(
        f"{redis_url}/59", home, FILEGATE_SPACE_BUDGET="auto", FILEGATE_SPACE_RESERVE=str(reserve)
    )
    with deployed(home, env, LocalSources(home / "files")) as deployment:
        root = deployment.folder()
        deployment.sources.put(f"{root}/a.txt", b"small")
        deployment.sources.put(f"{root}/b.txt", b"small")

        created = request_download(deployment.base_url, [f"{root}/"])

        # Not refused (auto has no whole budget to exceed): queued, and the dispatcher, which
        # ran before the answer, passed it over for want of space, though a worker is idle.
        assert created.status_code == 202, created.text
        state = api_get(
            deployment.base_url,
            f"/ticket/{created.json()['ticket_id']}/status",
            headers={"Accept": "application/json"},
        ).json()
        assert state["status"] == "queued"
        assert state["position"] == {"position": 1, "reason": "waiting_for_space"}
        client = redis.Redis.from_url(env["FILEGATE_REDIS_URL"], decode_responses=True)
        assert client.scard("filegate:running") == 0
