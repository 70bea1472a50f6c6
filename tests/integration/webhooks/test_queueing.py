"""Every way a ticket reaches a final state queues its webhook, once the change is stored, from the
service that made it: the API's for a direct link, a reused archive, a cancel or a release; a
worker's for a build's end and the sweeper's expiry. Tickets without a callback URL queue none."""

from __future__ import annotations

import pytest

from filegate.auth.principal import ANONYMOUS
from filegate.errors import InvalidRequest
from filegate.state.states import BuildStatus, TicketStatus
from tests.integration.wiring import Services, wait_until

HOOK = "https://hooks.example.com/filegate"


async def test_a_direct_link_is_ready_at_once_and_its_webhook_queued_by_the_api(services: Services) -> None:
    services.put("one.txt", b"one file")
    record = await services.request(["one.txt"], callback_url=HOOK)
    quiet = await services.request(["one.txt"])

    assert record.status is TicketStatus.READY and quiet.status is TicketStatus.READY
    assert services.work.webhooks == [(record.ticket_id, TicketStatus.READY)]
    assert (await services.ticket(record.ticket_id)).callback_url == HOOK


async def test_a_build_ready_queues_a_webhook_for_each_ticket_with_a_url(services: Services) -> None:
    services.put("trip/a.txt", b"a" * 100)
    first = await services.request(["trip/"], callback_url=HOOK)
    second = await services.request(["trip/"], callback_url=HOOK + "/2")
    quiet = await services.request(["trip/"])
    build_id = services.build_id(first)
    assert services.build_id(second) == build_id == services.build_id(quiet)
    assert services.work.webhooks == []

    assert services.run_build(build_id) is BuildStatus.READY

    assert sorted(services.webhooks) == sorted(
        [(first.ticket_id, TicketStatus.READY), (second.ticket_id, TicketStatus.READY)]
    )
    reused = await services.request(["trip/"], callback_url=HOOK)
    assert reused.status is TicketStatus.READY
    assert services.work.webhooks == [(reused.ticket_id, TicketStatus.READY)]


async def test_a_failed_build_queues_failed(services: Services) -> None:
    services.put("trip/a.txt", b"here")
    services.put("trip/b.txt", b"soon gone")
    record = await services.request(["trip/"], callback_url=HOOK)
    (services.files / "trip/b.txt").unlink()

    assert services.run_build(services.build_id(record)) is BuildStatus.FAILED

    assert services.webhooks == [(record.ticket_id, TicketStatus.FAILED)]


async def test_a_cancel_queues_cancelled_and_the_stopped_build_queues_nothing_more(
    services: Services,
) -> None:
    services.put("trip/a.txt", b"never built")
    record = await services.request(["trip/"], callback_url=HOOK)
    await services.tickets.cancel(record.ticket_id, ANONYMOUS)

    assert services.work.webhooks == [(record.ticket_id, TicketStatus.CANCELLED)]
    assert services.run_build(services.build_id(record)) is BuildStatus.CANCELLED
    assert services.webhooks == []


async def test_expiry_by_the_sweeper_queues_expired(services: Services) -> None:
    services.put("trip/a.txt", b"short-lived")
    record = await services.request(["trip/"], callback_url=HOOK, expires_in=1)
    services.run_build(services.build_id(record))
    await wait_until(record.expires_at)

    services.expiry.sweep(lambda build_id: None)

    assert services.webhooks == [
        (record.ticket_id, TicketStatus.READY),
        (record.ticket_id, TicketStatus.EXPIRED),
    ]


async def test_a_queued_build_whose_tickets_expired_queues_expired(services: Services) -> None:
    services.put("trip/a.txt", b"too late")
    record = await services.request(["trip/"], callback_url=HOOK, expires_in=1)
    await wait_until(record.expires_at)

    assert services.run_build(services.build_id(record)) is BuildStatus.EXPIRED

    assert services.webhooks == [(record.ticket_id, TicketStatus.EXPIRED)]


async def test_a_release_queues_expired_from_the_api(services: Services) -> None:
    services.put("trip/a.txt", b"done with it")
    record = await services.request(["trip/"], callback_url=HOOK)
    services.run_build(services.build_id(record))

    await services.tickets.cancel(record.ticket_id, ANONYMOUS)

    assert services.work.webhooks == [(record.ticket_id, TicketStatus.EXPIRED)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/", "non-public"),
        ("http://hooks.example.com/", "must use https"),
        ("https://169.254.169.254/latest/meta-data/", "non-public"),
        ("https://[::1]/", "non-public"),
        ("https://user:secret@hooks.example.com/", "password"),
    ],
)
async def test_a_refused_callback_url_is_an_invalid_request_naming_the_field(
    services: Services, url: str, reason: str
) -> None:
    services.put("one.txt", b"one file")
    with pytest.raises(InvalidRequest, match=reason) as refused:
        await services.request(["one.txt"], callback_url=url)
    assert refused.value.extra["field"] == "callback_url"
    assert services.work.webhooks == []
