"""What ``filegate get`` shows: live bars on a terminal (rich), plain log lines otherwise."""

from __future__ import annotations

import sys
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from filegate.client.models import Event, Part, Ticket
from filegate.units import format_size

REASONS = {"waiting_for_slot": "waiting for a build slot", "waiting_for_space": "waiting for space"}


class Display(Protocol):
    def created(self, ticket: Ticket) -> None: ...
    def event(self, event: Event) -> None: ...
    def part_started(self, part: Part) -> None: ...
    def part_bytes(self, part: Part, count: int) -> None: ...
    def part_done(self, part: Part, note: str) -> None: ...
    def say(self, text: str) -> None: ...
    def close(self) -> None: ...


def _position_text(event: Event) -> str:
    reason = REASONS.get(str(event.data.get("reason")), str(event.data.get("reason", "")))
    return f"position {event.data.get('position')} in the queue ({reason})"


class PlainDisplay:
    """One line per state change and per tenth of a build or a part: for logs and pipes."""

    def __init__(self) -> None:
        self._build_tenth = -1
        self._part_done: dict[str, int] = {}
        self._part_tenth: dict[str, int] = {}

    def say(self, text: str) -> None:
        print(text, flush=True)

    def created(self, ticket: Ticket) -> None:
        self.say(
            f"ticket {ticket.ticket_id}: {ticket.file_count} files, {format_size(ticket.total_size)}, "
            f"archive {ticket.name!r}"
        )

    def event(self, event: Event) -> None:
        if event.status is not None:
            error = event.data.get("error")
            self.say(f"status: {event.status}" + (f": {error}" if error else ""))
        elif event.name == "position":
            self.say(_position_text(event))
        elif event.name == "part_ready":
            self.say(f"part {event.data.get('part')} of {event.data.get('parts_total')} built")
        elif (progress := event.progress) is not None:
            tenth = int(progress.percent // 10)
            if tenth > self._build_tenth:
                self._build_tenth = tenth
                self.say(
                    f"building: {tenth * 10} % ({progress.files_done}/{progress.files_total} files, "
                    f"{format_size(progress.bytes_done)} of {format_size(progress.bytes_total)})"
                )

    def part_started(self, part: Part) -> None:
        self._part_done[part.name] = 0
        self._part_tenth[part.name] = -1
        self.say(f"downloading {part.name} ({format_size(part.size)})")

    def part_bytes(self, part: Part, count: int) -> None:
        done = self._part_done[part.name] = self._part_done[part.name] + count
        tenth = done * 10 // part.size if part.size else 10
        if tenth > self._part_tenth[part.name]:
            self._part_tenth[part.name] = tenth
            self.say(f"{part.name}: {tenth * 10} %")

    def part_done(self, part: Part, note: str) -> None:
        self.say(f"{part.name}: {note}")

    def close(self) -> None:
        pass


class LiveDisplay:
    """Bars drawn by rich: the build (queue position, then files and bytes), then one per part."""

    def __init__(self) -> None:
        self.console = Console(stderr=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self._build: TaskID | None = None
        self._parts: dict[str, TaskID] = {}

    def say(self, text: str) -> None:
        # A print above the bars redraws the last frame drawn: draw the current one first.
        self.progress.refresh()
        self.progress.console.print(text, highlight=False, markup=False)

    def created(self, ticket: Ticket) -> None:
        self.say(f"ticket {ticket.ticket_id}: {ticket.file_count} files, {format_size(ticket.total_size)}")
        self._build = self.progress.add_task("queued", total=ticket.total_size or None)

    def event(self, event: Event) -> None:
        if self._build is None:
            self._build = self.progress.add_task("queued", total=None)
        if event.status is not None:
            error = event.data.get("error")
            if event.status == "ready":
                self.progress.update(self._build, description="built", completed=self._total())
            else:
                self.progress.update(self._build, description=event.status)
            if error or event.status in ("failed", "cancelled", "expired"):
                self.say(f"status: {event.status}" + (f": {error}" if error else ""))
        elif event.name == "position":
            self.progress.update(self._build, description=_position_text(event))
        elif (progress := event.progress) is not None:
            self.progress.update(
                self._build,
                description=f"building {progress.files_done}/{progress.files_total} files",
                total=progress.bytes_total or None,
                completed=progress.bytes_done,
            )

    def _total(self) -> float:
        assert self._build is not None
        task = self.progress.tasks[self._build]
        return task.total or task.completed

    def part_started(self, part: Part) -> None:
        self._parts[part.name] = self.progress.add_task(part.name, total=part.size)

    def part_bytes(self, part: Part, count: int) -> None:
        self.progress.advance(self._parts[part.name], count)

    def part_done(self, part: Part, note: str) -> None:
        self.progress.update(self._parts[part.name], completed=part.size)
        self.say(f"{part.name}: {note}")

    def close(self) -> None:
        self.progress.stop()


def make_display() -> Display:
    """Bars when standard output is a terminal, else plain lines."""
    return LiveDisplay() if sys.stdout.isatty() else PlainDisplay()
