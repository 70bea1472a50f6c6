"""Running one ticket's build: preparing → ready, or failed with a reason a person can read."""

from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError
from urllib3.exceptions import HTTPError

from filegate.archive.builder import Progress, build_parts
from filegate.archive.parts import part_name, plan_parts
from filegate.errors import FilegateError
from filegate.storage.base import Storage, StorageUnavailable
from filegate.tickets.states import TicketStatus
from filegate.tickets.store import BuildTicketStore

log = logging.getLogger(__name__)

# Failures of the infrastructure rather than of the request: the build is
# tried again later (it is idempotent) instead of failing the ticket.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (RedisError, StorageUnavailable, HTTPError, ConnectionError)


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

        first_report = True

        def report(progress: Progress) -> None:
            # The first event always goes out: it tells the part count.
            nonlocal first_report
            self._tickets.progress(ticket_id, progress.to_dict(), force=first_report)
            first_report = False

        options = record.options
        plan = plan_parts(manifest, options.split_size)
        try:
            # A build delivered again after its worker died finds the dead
            # build's partial output here: it goes before anything is written.
            for number in range(1, len(plan) + 1):
                self._storage.discard_incomplete(f"{ticket_id}/{part_name(options.name, number, len(plan))}")
            self._storage.discard_incomplete(f"{ticket_id}/{options.name}.manifest.json")
            parts = build_parts(self._storage, plan, options.name, ticket_id, options.compression, report)
        except TRANSIENT_ERRORS:
            raise
        except FilegateError as exc:
            log.info("build of ticket %s failed: %s", ticket_id, exc.detail)
            return self.fail(ticket_id, exc.detail)
        except Exception as exc:
            log.exception("build of ticket %s failed", ticket_id)
            return self.fail(ticket_id, f"the archive could not be built ({type(exc).__name__}: {exc})")
        files = manifest.file_count
        done = Progress(files, files, manifest.total_size, manifest.total_size, len(plan), len(plan))
        self._tickets.progress(ticket_id, done.to_dict(), force=True)
        encoded = json.dumps([part.to_dict() for part in parts])
        archives = sum(1 for part in parts if part.role == "part")
        self._tickets.transition(ticket_id, TicketStatus.READY, {"parts": archives}, parts=encoded)
        return TicketStatus.READY

    def fail(self, ticket_id: str, reason: str) -> TicketStatus:
        self._tickets.transition(ticket_id, TicketStatus.FAILED, {"error": reason}, error=reason)
        return TicketStatus.FAILED
