"""ExpiryService on the real Redis and a local store, as the cleanup tasks call it: the sweep hands
over builds no live ticket holds, the delete removes their objects and gives their space back,
an archive another ticket holds stays, and leftovers of crashed builds go once old enough."""

from __future__ import annotations

import os
import time

import pytest

from filegate.auth.principal import ANONYMOUS
from filegate.errors import Gone
from filegate.state import keys
from filegate.state.states import BuildStatus, TicketStatus
from tests.integration.conftest import MakeServices
from tests.integration.wiring import Services, wait_until


def _sweep(services: Services) -> list[str]:
    """The builds one sweep hands to be deleted."""
    handed: list[str] = []
    assert services.expiry.sweep(handed.append) == len(handed)
    return handed


async def test_an_expired_tickets_archive_is_deleted_and_its_space_given_back(services: Services) -> None:
    services.put("trip/a.txt", b"short-lived " * 100)
    record = await services.request(["trip/"], expires_in=1)
    build_id = services.build_id(record)
    services.run_build(build_id)
    assert services.stored(build_id) and services.space()[0] > 0
    assert _sweep(services) == []  # not expired yet

    await wait_until(record.expires_at)

    assert _sweep(services) == [build_id]
    assert services.build_field(build_id, "status") == BuildStatus.DELETING.value
    assert (await services.ticket(record.ticket_id)).status is TicketStatus.EXPIRED
    with pytest.raises(Gone):
        await services.tickets.get(record.ticket_id, ANONYMOUS)
    services.expiry.delete(build_id)
    assert services.stored(build_id) == []
    assert not services.storage.output_dir.joinpath(build_id).exists()
    assert services.redis.exists(keys.build(build_id), keys.build_manifest(build_id)) == 0
    assert services.space() == (0, 0)
    assert _sweep(services) == []
    # Nothing reaches the deleted build: the same request is a new one.
    again = await services.request(["trip/"])
    assert services.build_id(again) != build_id


async def test_an_archive_another_live_ticket_holds_is_kept_until_that_one_ends(services: Services) -> None:
    services.put("shared/a.txt", b"wanted twice " * 100)
    first = await services.request(["shared/"])
    build_id = services.build_id(first)
    services.run_build(build_id)
    second = await services.request(["shared/"])
    assert second.status is TicketStatus.READY and services.build_id(second) == build_id
    stored = services.stored(build_id)

    await services.tickets.cancel(first.ticket_id, ANONYMOUS)

    assert _sweep(services) == []
    assert services.stored(build_id) == stored
    assert (await services.ticket(second.ticket_id)).status is TicketStatus.READY
    result = await services.tickets.result(second.ticket_id, ANONYMOUS)
    assert [part["name"] for part in result["parts"]] == ["shared.zip"]

    await services.tickets.cancel(second.ticket_id, ANONYMOUS)

    assert _sweep(services) == [build_id]
    services.expiry.delete(build_id)
    assert services.stored(build_id) == [] and services.space() == (0, 0)


async def test_a_build_whose_tickets_expired_while_it_waited_leaves_the_queue_unbuilt(
    make_services: MakeServices,
) -> None:
    services = make_services(max_concurrent_builds=1)
    services.put("blocker/a.txt", b"holds the slot")
    services.put("late/a.txt", b"never built")
    await services.request(["blocker/"])
    late = await services.request(["late/"], expires_in=1)
    late_build = services.build_id(late)
    assert services.queued() == [late_build]

    await wait_until(late.expires_at)

    assert _sweep(services) == [late_build]
    assert services.queued() == []
    assert (await services.ticket(late.ticket_id)).status is TicketStatus.EXPIRED
    services.expiry.delete(late_build)
    assert services.builds.get(late_build) is None
    assert services.archive.build(late_build) is None  # a message still on its way finds nothing
    assert services.stored(late_build) == []


async def test_leftovers_of_crashed_builds_go_once_older_than_the_longest_build(
    make_services: MakeServices,
) -> None:
    services = make_services(build_timeout="1h")
    folder = services.storage.output_dir / "crashed"
    folder.mkdir()
    old = folder / f".a.zip.{'0' * 32}.partial"
    young = folder / f".b.zip.{'1' * 32}.partial"
    finished = folder / "c.zip"
    for path in (old, young, finished):
        path.write_bytes(b"half an archive")
    two_hours_ago = time.time() - 2 * 3600
    for path in (old, finished):
        os.utime(path, (two_hours_ago, two_hours_ago))

    assert _sweep(services) == []

    assert not old.exists()
    assert young.exists(), "a build younger than the longest build may still be writing it"
    assert finished.exists(), "only partial files are leftovers"
