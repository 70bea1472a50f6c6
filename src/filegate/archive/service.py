"""Running one ticket's build: preparing → ready, or failed with a reason a person can read."""

from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError
from urllib3.exceptions import HTTPError

from filegate.archive.builder import Progress, build_zip
from filegate.errors import FilegateError
from filegate.storage.base import Storage, StorageUnavailable
from filegate.tickets.states import TicketStatus
from filegate.tickets.store import BuildTicketStore

log = logging.getLogger(__name__)

# Failures of the infrastructure rather than of the request: the build is
# tried again later (it is idempotent) instead of failing the ticket.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (RedisError, StorageUnavailable, HTTPError, ConnectionError)


def output_key_for(ticket_id: str, download_name: str) -> str:
    # One key per ticket: a redelivered build rewrites the same object
    # instead of leaving a second archive behind.
    return f"{ticket_id}/{download_name}"


class ArchiveService:
    def __init__(self, tickets: BuildTicketStore, storage: Storage) -> None:
        self._tickets = tickets
        self._storage = storage

    def build(self, ticket_id: str) -> TicketStatus | None:
        """Build the ticket's archive unless it is already final; returns the status reached.

        Raises one of TRANSIENT_ERRORS when Redis or the store cannot be reached.
        """
        record = self._tickets.get(ticket_id)
        if record is None:
            log.warning("build skipped: ticket %s is unknown or forgotten", ticket_id)
            return None
        if record.status.is_final:
            log.info("build skipped: ticket %s is already %s", ticket_id, record.status)
            return record.status
        manifest = self._tickets.manifest(ticket_id)
        if manifest is None or self._tickets.transition(ticket_id, TicketStatus.PREPARING) is None:
            return None

        def report(progress: Progress) -> None:
            self._tickets.progress(ticket_id, progress.to_dict())

        download_name = f"{record.options.name}.zip"
        output_key = output_key_for(ticket_id, download_name)
        try:
            # A build delivered again after its worker died finds the dead
            # build's partial output here: it goes before anything is written.
            self._storage.discard_incomplete(output_key)
            part = build_zip(
                self._storage, manifest, output_key, download_name, record.options.compression, report
            )
        except TRANSIENT_ERRORS:
            raise
        except FilegateError as exc:
            log.info("build of ticket %s failed: %s", ticket_id, exc.detail)
            return self.fail(ticket_id, exc.detail)
        except Exception as exc:
            log.exception("build of ticket %s failed", ticket_id)
            return self.fail(ticket_id, f"the archive could not be built ({type(exc).__name__}: {exc})")
        done = Progress(manifest.file_count, manifest.file_count, manifest.total_size, manifest.total_size)
        self._tickets.progress(ticket_id, done.to_dict(), force=True)
        parts = json.dumps([part.to_dict()])
        self._tickets.transition(ticket_id, TicketStatus.READY, {"parts": 1}, parts=parts)
        return TicketStatus.READY

    def fail(self, ticket_id: str, reason: str) -> TicketStatus:
        self._tickets.transition(ticket_id, TicketStatus.FAILED, {"error": reason}, error=reason)
        return TicketStatus.FAILED
