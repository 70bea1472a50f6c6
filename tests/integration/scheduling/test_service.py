"""Scheduler on the real Redis, as the worker's tasks use it: a build's end admits the next, never
more at once than the limit, only what the space budget holds, by priority then arrival; a
build whose worker died is queued again, and one that cannot be sent gives its slot back."""

from __future__ import annotations

from filegate.auth.principal import ANONYMOUS
from filegate.scheduling.admission import UNSENT_REASON
from filegate.scheduling.dispatcher import Admission
from filegate.state.queue import Priority
from filegate.state.states import BuildStatus, TicketStatus
from filegate.tickets.record import TicketRecord
from tests.integration.conftest import MakeServices
from tests.integration.wiring import Services, next_arrival


async def _requests(services: Services, names: list[str], priority: str = "normal") -> list[TicketRecord]:
    records = []
    for name in names:
        services.put(f"{name}/data.txt", f"the sources of {name}".encode())
        await next_arrival()
        records.append(await services.request([f"{name}/"], priority=priority))
    return records


async def test_never_more_builds_run_than_the_limit_and_each_end_admits_the_next(
    make_services: MakeServices,
) -> None:
    services = make_services(max_concurrent_builds=2)
    records = await _requests(services, [f"folder{number}" for number in range(5)])
    build_ids = [services.build_id(record) for record in records]
    # The API admitted the first two as they came; the others wait for a slot.
    assert [sent.build_id for sent in services.work.builds] == build_ids[:2]
    assert services.running() == set(build_ids[:2])
    assert services.queued() == build_ids[2:]
    assert services.scheduler.admit() == []

    for left in (4, 3, 2, 1, 0):
        assert services.run_build(min(services.running())) is BuildStatus.READY
        # Each end gave its slot to the next in the queue, never a third one.
        assert len(services.running()) == min(2, left)

    assert [sent.build_id for sent in services.sender.sent] == build_ids[2:]
    assert services.running() == set() and services.queued() == []
    for record in records:
        assert (await services.ticket(record.ticket_id)).status is TicketStatus.READY


async def test_the_licence_caps_the_setting_of_concurrent_builds(make_services: MakeServices) -> None:
    services = make_services(max_concurrent_builds=5)  # the community licence allows 2
    records = await _requests(services, ["a", "b", "c"])

    assert services.running() == {services.build_id(record) for record in records[:2]}
    assert services.scheduler.admit() == []


async def test_a_build_waits_while_the_space_budget_cannot_hold_it_and_starts_once_space_is_freed(
    make_services: MakeServices,
) -> None:
    services = make_services(space_budget="100KB")
    services.put_random("first/data.bin", 60_000)
    first = await services.request(["first/"], compression="store")
    first_build = services.build_id(first)
    services.run_build(first_build)
    held, _ = services.space()
    assert held > 60_000

    services.put_random("second/data.bin", 45_000)  # fits the budget, not beside the first
    second = await services.request(["second/"])
    second_build = services.build_id(second)

    # A slot is free, the space is not: queued, and told why.
    assert services.queued() == [second_build] and services.running() == set()
    assert second.position == {"position": 1, "reason": "waiting_for_space"}
    assert services.scheduler.admit() == []

    # The first is released and deleted (as the delete task does, then admits).
    await services.tickets.cancel(first.ticket_id, ANONYMOUS)
    due: list[str] = []
    assert services.expiry.sweep(due.append) == 1 and due == [first_build]
    services.expiry.delete(first_build)
    assert services.space() == (0, 0)
    assert services.scheduler.admit() == [Admission(second_build, Priority.NORMAL)]
    assert services.sender.sent == [Admission(second_build, Priority.NORMAL)]
    assert services.run_build(second_build) is BuildStatus.READY


async def test_queued_builds_start_by_priority_then_by_arrival(make_services: MakeServices) -> None:
    services = make_services(max_concurrent_builds=1)
    [blocker] = await _requests(services, ["blocker"])
    [low] = await _requests(services, ["low"], priority="low")
    [normal] = await _requests(services, ["normal"])
    [high] = await _requests(services, ["high"], priority="high")
    [later] = await _requests(services, ["later"])
    expected = [high, normal, later, low]
    assert services.queued() == [services.build_id(record) for record in expected]

    build_id = services.build_id(blocker)
    for _ in expected:
        services.run_build(build_id)
        build_id = services.sender.sent[-1].build_id

    services.run_build(build_id)
    assert services.sender.sent == [
        Admission(services.build_id(high), Priority.HIGH),
        Admission(services.build_id(normal), Priority.NORMAL),
        Admission(services.build_id(later), Priority.NORMAL),
        Admission(services.build_id(low), Priority.LOW),
    ]
    assert services.running() == set() and services.queued() == []


async def test_a_build_whose_worker_died_is_queued_again_and_sent_again(make_services: MakeServices) -> None:
    services = make_services(max_concurrent_builds=1)
    [record] = await _requests(services, ["lost"])
    build_id = services.build_id(record)
    # A worker started it and died: building, and no lease renewed any more.
    assert services.builds.transition(build_id, BuildStatus.BUILDING)
    assert services.scheduler.reclaim() == [build_id]
    assert services.running() == set() and services.queued() == [build_id]
    assert services.space()[1] == 0

    assert services.scheduler.admit() == [Admission(build_id, Priority.NORMAL)]

    assert services.run_build(build_id) is BuildStatus.READY
    assert (await services.ticket(record.ticket_id)).status is TicketStatus.READY


async def test_a_live_builds_lease_keeps_it_from_being_reclaimed(services: Services) -> None:
    [record] = await _requests(services, ["alive"])
    build_id = services.build_id(record)
    assert services.builds.take_lease(build_id, "worker-1", 30) is None
    assert services.builds.transition(build_id, BuildStatus.BUILDING, holder="worker-1")

    assert services.scheduler.reclaim() == []
    assert services.running() == {build_id}


async def test_a_build_that_cannot_be_sent_fails_and_gives_its_slot_back(make_services: MakeServices) -> None:
    services = make_services(max_concurrent_builds=1)
    blocker, waiting = await _requests(services, ["blocker", "waiting"])
    services.sender.is_down = True

    services.run_build(services.build_id(blocker))

    assert services.sender.sent == []
    failed = await services.ticket(waiting.ticket_id)
    assert failed.status is TicketStatus.FAILED and failed.error == UNSENT_REASON
    assert services.running() == set() and services.space()[1] == 0
    # Its fingerprint was let go: asked again once the broker answers, it is built.
    services.sender.is_down = False
    again = await services.request(["waiting/"])
    assert services.build_id(again) != services.build_id(waiting)
    assert services.run_build(services.build_id(again)) is BuildStatus.READY
    assert services.stored(services.build_id(again)) == ["waiting.manifest.json", "waiting.zip"]
