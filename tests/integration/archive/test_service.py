"""ArchiveService on the real Redis and a local store, called as the build task calls it: a
build turns every ticket holding it ready with its parts, or failed with a reason, and one no
longer wanted is never built."""

from __future__ import annotations

import hashlib
import os

import pytest

from filegate.archive.holder import new_holder
from filegate.archive.record import CommittedPart, Part
from filegate.archive.registry import BuildTakenOver
from filegate.archive.service import BuildHeldElsewhere
from filegate.auth.principal import ANONYMOUS
from filegate.state import keys
from filegate.state.states import BuildStatus, TicketStatus
from tests.integration.wiring import Services, wait_until
from tests.readers import check_unzip, check_zipfile


def _statuses(events: list[tuple[str, str, dict[str, object]]]) -> list[object]:
    return [data["status"] for _, name, data in events if name == "status"]


async def test_a_build_turns_every_ticket_holding_it_ready_with_its_parts(services: Services) -> None:
    sources = {
        "trip/notes.txt": b"a line that repeats\n" * 500,
        "trip/photos/a.jpg": os.urandom(20_000),
    }
    for path, data in sources.items():
        services.put(path, data)
    first = await services.request(["trip/"], name="holiday")
    second = await services.request(["trip/"], name="holiday")
    build_id = services.build_id(first)

    assert services.run_build(build_id) is BuildStatus.READY

    ready = [await services.ticket(record.ticket_id) for record in (first, second)]
    assert [record.status for record in ready] == [TicketStatus.READY, TicketStatus.READY]
    assert ready[0].parts == ready[1].parts
    assert services.stored(build_id) == ["holiday.manifest.json", "holiday.zip"]
    archive = services.storage.output_dir / build_id / "holiday.zip"
    expected = {"trip/": b"", "trip/photos/": b"", **sources}
    check_zipfile(archive, expected)
    check_unzip(archive, expected)
    result = await services.tickets.result(first.ticket_id, ANONYMOUS)
    [part] = result["parts"]
    assert part["name"] == "holiday.zip" and part["size"] == archive.stat().st_size
    assert part["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert part["url"].startswith(f"{services.settings.effective_public_url}/files/{build_id}/holiday.zip?")
    assert result["manifest"]["name"] == "holiday.manifest.json"

    events = await services.events(first.ticket_id)
    assert _statuses(events) == ["queued", "preparing", "ready"]
    progress = [data for _, name, data in events if name == "progress"]
    assert progress and progress[-1]["percent"] == 100.0
    # Its slot is given back; what it stores is held against the space budget.
    stored = sum(path.stat().st_size for path in (services.storage.output_dir / build_id).iterdir())
    assert services.running() == set() and services.space() == (stored, 0)


async def test_a_build_delivered_again_once_ready_is_not_built_twice(services: Services) -> None:
    services.put("trip/a.txt", b"once")
    build_id = services.build_id(await services.request(["trip/"]))
    assert services.archive.build(build_id) is BuildStatus.READY
    archive = services.storage.output_dir / build_id / "trip.zip"
    written = archive.stat().st_mtime_ns

    assert services.archive.build(build_id) is BuildStatus.READY

    assert archive.stat().st_mtime_ns == written


async def test_a_build_whose_source_went_missing_fails_with_a_reason_and_leaves_nothing(
    services: Services,
) -> None:
    services.put("trip/a.txt", b"here")
    services.put("trip/b.txt", b"soon gone")
    record = await services.request(["trip/"])
    build_id = services.build_id(record)
    (services.files / "trip/b.txt").unlink()

    assert services.run_build(build_id) is BuildStatus.FAILED

    failed = await services.ticket(record.ticket_id)
    assert failed.status is TicketStatus.FAILED
    assert failed.error is not None and "trip/b.txt" in failed.error
    assert services.stored(build_id) == []
    assert services.running() == set() and services.space() == (0, 0)


async def test_a_build_cancelled_before_it_started_is_never_built(services: Services) -> None:
    services.put("trip/a.txt", b"never built")
    record = await services.request(["trip/"])
    build_id = services.build_id(record)
    assert services.running() == {build_id}  # admitted: its message is on its way to a worker
    await services.tickets.cancel(record.ticket_id, ANONYMOUS)

    assert services.run_build(build_id) is BuildStatus.CANCELLED

    assert services.stored(build_id) == []
    assert services.running() == set() and services.space() == (0, 0)
    assert _statuses(await services.events(record.ticket_id)) == ["queued", "cancelled"]


async def test_a_build_whose_tickets_expired_while_it_waited_is_never_built(services: Services) -> None:
    services.put("trip/a.txt", b"too late")
    record = await services.request(["trip/"], expires_in=1)
    build_id = services.build_id(record)
    await wait_until(record.expires_at)

    assert services.run_build(build_id) is BuildStatus.EXPIRED

    assert services.stored(build_id) == []
    assert services.running() == set()
    assert (await services.ticket(record.ticket_id)).status is TicketStatus.EXPIRED


async def test_a_build_has_one_holder_and_one_that_lost_its_lease_writes_nothing_more(
    services: Services,
) -> None:
    """Worker a is cut off until its lease lapses; worker b takes the build. When a is back, its
    renewal, its next part and its end are refused: the build, its parts and its slot are b's."""
    services.put("trip/a.txt", b"one")
    record = await services.request(["trip/"])
    build_id = services.build_id(record)
    builds = services.builds
    assert builds.take_lease(build_id, "host-a/1/10/x", 30) is None
    assert builds.transition(build_id, BuildStatus.BUILDING, holder="host-a/1/10/x")
    assert builds.take_lease(build_id, "host-b/2/20/y", 30) == "host-a/1/10/x"  # a's lease runs

    services.redis.delete(keys.lease(build_id))  # a's lease lapsed while it was cut off
    assert builds.take_lease(build_id, "host-b/2/20/y", 30) is None
    assert not builds.renew_lease(build_id, "host-a/1/10/x", 30)
    committed = CommittedPart(1, 1, Part(key=f"{build_id}/a.zip", name="a.zip", size=1, sha256="0" * 64))
    with pytest.raises(BuildTakenOver):
        builds.part_ready(build_id, committed, "host-a/1/10/x")
    with pytest.raises(BuildTakenOver):
        builds.transition(build_id, BuildStatus.READY, holder="host-a/1/10/x", parts="[]")
    builds.drop_lease(build_id, "host-a/1/10/x")  # a's end leaves b's lease alone
    assert services.redis.get(keys.lease(build_id)) == "host-b/2/20/y"
    assert builds.committed_parts(build_id) == {}
    assert (await services.ticket(record.ticket_id)).status is TicketStatus.PREPARING

    assert builds.part_ready(build_id, committed, "host-b/2/20/y")
    assert list(builds.committed_parts(build_id)) == [1]


async def test_a_delivery_of_a_build_another_live_worker_holds_leaves_it_alone(services: Services) -> None:
    services.put("trip/a.txt", b"one")
    build_id = services.build_id(await services.request(["trip/"]))
    assert services.builds.take_lease(build_id, "elsewhere/1/10/x", 30) is None
    assert services.builds.transition(build_id, BuildStatus.BUILDING, holder="elsewhere/1/10/x")

    with pytest.raises(BuildHeldElsewhere):
        services.archive.build(build_id)
    assert services.stored(build_id) == []
    assert services.running() == {build_id}


async def test_a_build_whose_holder_on_this_host_died_is_taken_at_once(services: Services) -> None:
    services.put("trip/a.txt", b"one")
    build_id = services.build_id(await services.request(["trip/"]))
    holder = new_holder().split("/")
    holder[2] = str(_unused_pid())
    assert services.builds.take_lease(build_id, "/".join(holder), 30) is None
    assert services.builds.transition(build_id, BuildStatus.BUILDING, holder="/".join(holder))

    assert services.archive.build(build_id) is BuildStatus.READY


def _unused_pid() -> int:
    """A process id no process of this machine has (a pool process that was killed)."""
    running = {int(name) for name in os.listdir("/proc") if name.isdigit()}
    return next(pid for pid in range(max(running) + 1000, 1, -1) if pid not in running)
