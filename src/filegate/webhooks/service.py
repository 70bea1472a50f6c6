"""One webhook attempt: the ticket's state, signed, POSTed to its callback URL at a checked address.

A delivery is owed once per final state a ticket reaches. The attempt that
gets a 2xx answer sets a marker (SET NX), and every attempt looks for it
first, so a state reached twice, along two code paths, or a task delivered
twice by the broker, is posted once; while an attempt runs it holds a short
lock, so two never overlap.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import urllib3

from filegate import __version__
from filegate.callbacks import Callback, IPAddress, RefusedCallback, check_callback, resolve_callback
from filegate.metrics.cluster import WebhookMetrics
from filegate.settings import Settings
from filegate.state import keys
from filegate.state.states import TicketStatus
from filegate.storage.base import Storage
from filegate.tickets.record import TicketRecord
from filegate.tickets.result import part_link, result_body
from filegate.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 5.0
"""A receiver has this long to answer once connected: it should queue the event and answer."""
_ATTEMPT_LOCK_SECONDS = int(CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + 10
MAX_RETRY_DELAY_SECONDS = 3600

RETRIED = frozenset({"failed", "busy"})
"""Outcomes after which the delivery is tried again: no 2xx answer, or another attempt running."""


def retry_delay(first_delay_seconds: int, retries_so_far: int, longest_seconds: int) -> int:
    """Seconds before the next attempt: the first delay, doubled after each failure, at most an hour
    and at most ``longest_seconds``."""
    longest = min(MAX_RETRY_DELAY_SECONDS, longest_seconds)
    return int(min(first_delay_seconds * 2**retries_so_far, max(longest, first_delay_seconds)))


def longest_retry_delay(build_timeout_seconds: int) -> int:
    """A retry waits in the worker as an unacknowledged message: the Redis broker delivers it
    again past its visibility timeout (FILEGATE_BUILD_TIMEOUT + 10 min, see worker.py), which
    would start a second chain of attempts. Half of that is safe."""
    return (build_timeout_seconds + 600) // 2


def message_id(ticket_id: str, status: TicketStatus) -> str:
    """The same for every attempt of one delivery, so a receiver can drop a repeat."""
    return f"{ticket_id}.{status.value}"


def payload(record: TicketRecord, status: TicketStatus, links: list[str]) -> dict[str, Any]:
    """The body: the event's type, and the ticket as it is now; a ready one with its result (as
    GET /ticket/{id}/result shows it)."""
    data = result_body(record, links) if status is TicketStatus.READY else record.public_state()
    return {
        "type": f"ticket.{status.value}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": data,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: str
    """'delivered', 'failed', 'refused', or, with no request made, 'done' (already delivered),
    'gone' (the ticket or its URL is no more) or 'busy'."""
    detail: str = ""


class WebhookService:
    def __init__(
        self, client: redis.Redis, storage: Storage, settings: Settings, metrics: WebhookMetrics
    ) -> None:
        self._redis = client
        self._storage = storage
        self._settings = settings
        self._metrics = metrics

    def attempt(self, ticket_id: str, status: TicketStatus, number: int) -> Answer:
        """One attempt of the ticket's webhook for ``status``; logged and counted when a request
        was made (or refused)."""
        sent_key = keys.webhook_sent(ticket_id, status.value)
        if self._redis.exists(sent_key):
            return Answer("done")
        fields = self._redis.hgetall(keys.ticket(ticket_id))
        if not fields or not fields.get("callback_url"):
            log.info("webhook of ticket %s (%s) dropped: the ticket is forgotten", ticket_id, status.value)
            return Answer("gone")
        lock = keys.webhook_attempt(ticket_id, status.value)
        if not self._redis.set(lock, "1", nx=True, ex=_ATTEMPT_LOCK_SECONDS):
            return Answer("busy")
        started = time.monotonic()
        try:
            record = TicketRecord.from_redis(ticket_id, fields)
            host, answer = self._post(record, status)
            if answer.outcome == "delivered":
                self._redis.set(sent_key, "1", nx=True, ex=self._marker_seconds())
        finally:
            self._redis.delete(lock)
        self._metrics.attempted(answer.outcome)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        log.info(
            "webhook of ticket %s (%s) to %s: attempt %d %s, %s, %d ms",
            ticket_id,
            status.value,
            host,
            number,
            answer.outcome,
            answer.detail,
            elapsed_ms,
            extra={
                "ticket_id": ticket_id,
                "webhook_state": status.value,
                "webhook_host": host,
                "attempt": number,
                "outcome": answer.outcome,
                "result": answer.detail,
                "duration_ms": elapsed_ms,
            },
        )
        return answer

    def abandon(self, ticket_id: str, status: TicketStatus, attempts: int) -> None:
        self._metrics.abandoned()
        log.warning(
            "webhook of ticket %s (%s) given up after %d attempts",
            ticket_id,
            status.value,
            attempts,
            extra={"ticket_id": ticket_id, "webhook_state": status.value, "attempt": attempts},
        )

    def _marker_seconds(self) -> int:
        """Longer than any repeat of the delivery can come (its retries, the ticket's life)."""
        settings = self._settings
        return settings.webhook_retry_for + settings.max_expiry + settings.expired_grace + 3600

    def _post(self, record: TicketRecord, status: TicketStatus) -> tuple[str, Answer]:
        """(the URL's host, for the log line; what the attempt did)."""
        url = record.callback_url or ""
        try:
            callback = check_callback(url, self._settings.webhook_allowed_hosts)
        except RefusedCallback as exc:
            return "?", Answer("refused", str(exc))
        try:
            address = resolve_callback(callback)
        except RefusedCallback as exc:
            return callback.host, Answer("refused", str(exc))
        except OSError as exc:
            return callback.host, Answer("failed", f"{callback.host} does not resolve: {exc}")
        links = []
        if status is TicketStatus.READY:
            links = [part_link(self._storage, part, record) for part in record.parts]
        body = json.dumps(payload(record, status, links), separators=(",", ":")).encode()
        headers = signed_headers(
            self._settings.webhook_secret, message_id(record.ticket_id, status), int(time.time()), body
        )
        try:
            code = _send(callback, address, body, headers)
        except urllib3.exceptions.HTTPError as exc:
            return callback.host, Answer("failed", f"no answer ({type(exc).__name__})")
        outcome = "delivered" if 200 <= code < 300 else "failed"
        return callback.host, Answer(outcome, f"HTTP {code}")


def _send(callback: Callback, address: IPAddress, body: bytes, headers: dict[str, str]) -> int:
    """POST to ``address`` (the one checked), with the URL's host in Host and, for https, in SNI
    and the certificate check; no redirect is followed, the answer's body is not read."""
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    pool: urllib3.HTTPConnectionPool
    if callback.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            str(address),
            callback.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            server_hostname=callback.host,
            assert_hostname=callback.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(str(address), callback.port, timeout=timeout, retries=False)
    sent = {
        **headers,
        "Host": callback.host_header,
        "Content-Type": "application/json",
        "User-Agent": f"filegate/{__version__}",
    }
    try:
        response = pool.urlopen(
            "POST", callback.target, body=body, headers=sent, redirect=False, preload_content=False
        )
        response.close()
        return int(response.status)
    finally:
        pool.close()
