"""ArchiveService on the real Redis and a local store, called as the build task calls it: a
build turns every ticket holding it ready with its parts, or failed with a reason, and one no
longer wanted is never built."""

from __future__ import annotations

import hashlib
import os

from filegate.auth.principal import ANONYMOUS
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
