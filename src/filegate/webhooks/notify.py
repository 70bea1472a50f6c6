"""The worker's side of queueing webhooks: after a transition, the tickets it brought to a final state
that have a callback URL each get a delivery task."""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from filegate.archive.registry import BuildRegistry
from filegate.state.states import TicketStatus

log = logging.getLogger(__name__)

SendWebhook = Callable[[str, TicketStatus], None]


class WebhookNotifier:
    def __init__(self, builds: BuildRegistry, send: SendWebhook) -> None:
        self._builds = builds
        self._send = send

    def build_reached(self, build_id: str, status: TicketStatus) -> None:
        """The build's change just showed ``status`` on its tickets: queue each one's webhook. A
        failure here is logged and costs those deliveries, never the build's change."""
        try:
            ticket_ids = self._builds.callbacks(build_id, status)
        except RedisError:
            log.warning("could not find the webhooks owed after build %s became %s", build_id, status.value)
            return
        for ticket_id in ticket_ids:
            try:
                self._send(ticket_id, status)
            except Exception:
                log.warning("could not queue the %s webhook of ticket %s", status.value, ticket_id)
