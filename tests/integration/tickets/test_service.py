"""TicketService on the real Redis and a local store, called directly: a request becomes a
ticket holding a build, identical ones share it, cancels and releases, and what it refuses."""

from __future__ import annotations

import os
import time

import pytest

from filegate.auth.principal import ANONYMOUS, Principal, PrincipalKind
from filegate.errors import Conflict, Forbidden, Gone, NotFound, TooLarge, Unavailable
from filegate.scheduling.admission import UNSENT_REASON
from filegate.scheduling.dispatcher import Admission
from filegate.state import keys
from filegate.state.queue import Priority
from filegate.state.states import BuildStatus, TicketStatus
from tests.integration.conftest import MakeServices
from tests.integration.wiring import Services, next_arrival


def _statuses(events: list[tuple[str, str, dict[str, object]]]) -> list[object]:
    return [data["status"] for _, name, data in events if name == "status"]


async def test_a_request_queues_one_build_and_sends_it_while_a_slot_is_free(services: Services) -> None:
    services.put("trip/notes.txt", b"n" * 1000)
    services.put("trip/photos/a.jpg", os.urandom(2000))

    record = await services.request(["trip/"], name="holiday")

    assert record.status is TicketStatus.QUEUED
    assert (record.file_count, record.total_size) == (2, 3000)
    assert record.options.name == "holiday" and record.owner == ANONYMOUS.owner
    build_id = services.build_id(record)
    assert services.work.builds == [Admission(build_id, Priority.NORMAL)]
    assert services.running() == {build_id} and services.queued() == []
    assert services.build_field(build_id, "status") == BuildStatus.QUEUED.value
    assert services.space() == (0, int(services.build_field(build_id, "estimate") or 0))
    manifest = services.builds.manifest(build_id)
    assert manifest is not None
    assert {entry.name for entry in manifest.entries} == {
        "trip/",
        "trip/notes.txt",
        "trip/photos/",
        "trip/photos/a.jpg",
    }
    assert _statuses(await services.events(record.ticket_id)) == ["queued"]


async def test_identical_requests_join_one_build_and_other_options_make_another(services: Services) -> None:
    services.put("trip/a.txt", b"same bytes")
    first = await services.request(["trip/"])
    second = await services.request(["trip/"], expires_in="3 days")

    assert second.status is TicketStatus.QUEUED
    build_id = services.build_id(first)
    assert services.build_id(second) == build_id
    assert services.redis.smembers(keys.build_tickets(build_id)) == {first.ticket_id, second.ticket_id}
    # The build lives as long as its longest-lived holder.
    assert float(services.build_field(build_id, "expires_at") or 0) == second.expires_at.timestamp()

    stored = await services.request(["trip/"], compression="store")
    assert services.build_id(stored) != build_id
    assert [sent.build_id for sent in services.work.builds] == [build_id, services.build_id(stored)]


async def test_cancelling_a_queued_ticket_dequeues_its_build_and_moves_the_next_up(
    make_services: MakeServices,
) -> None:
    services = make_services(max_concurrent_builds=1)
    for name in ("blocker", "second", "third"):
        services.put(f"{name}/data.txt", name.encode())
    records = []
    for name in ("blocker", "second", "third"):
        await next_arrival()
        records.append(await services.request([f"{name}/"]))
    blocker, second, third = records
    second_build, third_build = services.build_id(second), services.build_id(third)
    assert services.running() == {services.build_id(blocker)}
    assert services.queued() == [second_build, third_build]
    assert third.position == {"position": 2, "reason": "waiting_for_slot"}

    cancelled = await services.tickets.cancel(second.ticket_id, ANONYMOUS)

    assert cancelled.status is TicketStatus.CANCELLED
    assert services.build_field(second_build, "status") == BuildStatus.CANCELLED.value
    assert services.queued() == [third_build]
    assert (await services.ticket(third.ticket_id)).position == {"position": 1, "reason": "waiting_for_slot"}
    events = await services.events(third.ticket_id)
    places = [data["position"] for _, name, data in events if name == "position"]
    assert places[-2:] == [2, 1]
    assert _statuses(await services.events(second.ticket_id)) == ["queued", "cancelled"]
    # The one slot is still the blocker's: nothing else was sent.
    assert [sent.build_id for sent in services.work.builds] == [services.build_id(blocker)]
    with pytest.raises(Conflict):
        await services.tickets.cancel(second.ticket_id, ANONYMOUS)
    # Its fingerprint was let go: the same request again is a new build.
    again = await services.request(["second/"])
    assert services.build_id(again) not in (second_build, third_build)


async def test_cancelling_one_of_two_tickets_leaves_their_build_to_the_other(services: Services) -> None:
    services.put("shared/a.txt", b"wanted twice")
    first = await services.request(["shared/"])
    second = await services.request(["shared/"])
    build_id = services.build_id(first)

    assert (await services.tickets.cancel(first.ticket_id, ANONYMOUS)).status is TicketStatus.CANCELLED

    assert services.build_field(build_id, "status") == BuildStatus.QUEUED.value
    assert services.build_field(build_id, "cancel") is None
    assert services.redis.smembers(keys.build_tickets(build_id)) == {second.ticket_id}
    assert (await services.ticket(second.ticket_id)).status is TicketStatus.QUEUED
    assert services.run_build(build_id) is BuildStatus.READY
    assert (await services.ticket(second.ticket_id)).status is TicketStatus.READY
    assert (await services.ticket(first.ticket_id)).status is TicketStatus.CANCELLED


async def test_a_request_for_one_file_is_ready_at_once_with_a_link_to_the_file(services: Services) -> None:
    data = os.urandom(5000)
    services.put("reports/2023.pdf", data)

    record = await services.request(["reports/2023.pdf"])

    assert record.status is TicketStatus.READY and record.build_id is None
    assert services.work.builds == [] and services.running() == set()
    result = await services.tickets.result(record.ticket_id, ANONYMOUS)
    [part] = result["parts"]
    assert (part["name"], part["size"], part["sha256"]) == ("2023.pdf", len(data), None)
    assert part["url"].startswith(f"{services.settings.effective_public_url}/sources/reports/2023.pdf?")
    assert result["manifest"] is None
    # Asked for as a ZIP, the same file is a build.
    zipped = await services.request(["reports/2023.pdf"], archive="zip")
    assert zipped.status is TicketStatus.QUEUED and zipped.build_id is not None


async def test_a_ready_build_is_reused_at_once_by_an_identical_request(services: Services) -> None:
    services.put("trip/a.txt", b"a" * 3000)
    first = await services.request(["trip/"])
    build_id = services.build_id(first)
    assert services.run_build(build_id) is BuildStatus.READY

    reused = await services.request(["trip/"])

    assert reused.status is TicketStatus.READY and services.build_id(reused) == build_id
    assert reused.parts == (await services.ticket(first.ticket_id)).parts
    assert [sent.build_id for sent in services.work.builds] == [build_id]
    assert services.redis.hget(keys.METRICS, "cache_hits") == "1"


async def test_a_ready_build_whose_objects_are_gone_is_built_again(services: Services) -> None:
    services.put("trip/a.txt", b"a" * 3000)
    first = await services.request(["trip/"])
    old_build = services.build_id(first)
    services.run_build(old_build)
    for name in services.stored(old_build):
        (services.storage.output_dir / old_build / name).unlink()

    again = await services.request(["trip/"])

    assert again.status is TicketStatus.QUEUED
    new_build = services.build_id(again)
    assert new_build != old_build
    assert [sent.build_id for sent in services.work.builds] == [old_build, new_build]
    # No request reaches the lost build any more: the sweeper takes it.
    assert services.build_field(old_build, "status") == BuildStatus.DELETING.value


async def test_a_build_the_broker_cannot_take_fails_its_ticket_and_gives_its_slot_back(
    services: Services,
) -> None:
    services.put("trip/a.txt", b"unsent")
    services.work.is_down = True

    with pytest.raises(Unavailable) as refused:
        await services.request(["trip/"])

    ticket = await services.ticket(refused.value.extra["ticket_id"])
    assert ticket.status is TicketStatus.FAILED and ticket.error == UNSENT_REASON
    assert services.running() == set() and services.space() == (0, 0)
    services.work.is_down = False
    again = await services.request(["trip/"])
    assert services.build_id(again) != ticket.build_id
    assert [sent.build_id for sent in services.work.builds] == [services.build_id(again)]


async def test_releasing_a_ready_ticket_ends_it_now_and_asks_for_a_sweep(services: Services) -> None:
    services.put("trip/a.txt", b"done with it")
    record = await services.request(["trip/"])
    build_id = services.build_id(record)
    services.run_build(build_id)
    before = time.time()

    released = await services.tickets.cancel(record.ticket_id, ANONYMOUS)

    assert released.status is TicketStatus.EXPIRED
    assert services.work.sweeps == 1
    # No other ticket holds the build: it is due for deletion now.
    assert before <= float(services.build_field(build_id, "expires_at") or 0) <= time.time()
    with pytest.raises(Gone):
        await services.tickets.get(record.ticket_id, ANONYMOUS)
    with pytest.raises(Gone):
        await services.tickets.cancel(record.ticket_id, ANONYMOUS)


async def test_a_ticket_answers_its_owner_only(services: Services) -> None:
    services.put("trip/a.txt", b"mine")
    record = await services.request(["trip/"])
    other = Principal(PrincipalKind.APP, "other", "other", ("",), Priority.NORMAL)

    assert (await services.tickets.get(record.ticket_id, ANONYMOUS)).ticket_id == record.ticket_id
    with pytest.raises(NotFound):
        await services.tickets.get(record.ticket_id, other)
    with pytest.raises(NotFound):
        await services.tickets.cancel(record.ticket_id, other)
    assert (await services.ticket(record.ticket_id)).status is TicketStatus.QUEUED


async def test_requests_outside_the_callers_scope_priority_or_the_budget_are_refused_before_any_build(
    make_services: MakeServices,
) -> None:
    services = make_services(space_budget="10KB")
    services.put("public/a.txt", b"a")
    services.put("private/b.txt", b"b")
    services.put("big/data.bin", os.urandom(20_000))
    scoped = Principal(PrincipalKind.APP, "app", "app", ("public",), Priority.NORMAL)

    with pytest.raises(Forbidden) as outside:
        await services.request(["public/", "private/b.txt"], scoped)
    assert outside.value.extra["paths"] == ["private/b.txt"]
    with pytest.raises(Forbidden):
        await services.request(["public/"], scoped, priority="high")
    with pytest.raises(NotFound) as missing:
        await services.request(["public/", "public/nothing.txt"])
    assert missing.value.extra["paths"] == ["public/nothing.txt"]
    with pytest.raises(TooLarge) as large:
        await services.request(["big/"])
    assert large.value.extra["limit"] == "space_budget"

    assert services.work.builds == [] and services.queued() == []
    assert services.redis.keys(f"{keys.PREFIX}ticket:*") == []
