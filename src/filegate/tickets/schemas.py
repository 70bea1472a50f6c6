"""Request and response bodies of the ticket endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from filegate.state.queue import Priority
from filegate.state.states import TicketStatus


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(
        min_length=1,
        description="Files and folders relative to the store's root; a folder brings its whole subtree.",
        examples=[["reports/2023.pdf", "photos/"]],
    )
    name: str | None = Field(None, description="The archive's name, without '.zip'.", examples=["holiday"])
    expires_in: str | int | None = Field(
        None, description="How long the links work: '2 days', '90 min' or seconds.", examples=["2 days"]
    )
    compression: Literal["auto", "store", "deflate"] = Field(
        "auto",
        description="'auto' stores already-compressed formats and data that does not shrink, "
        "and deflates the rest.",
    )
    split_size: str | int | None = Field(
        None,
        description="Split into standalone ZIPs of at most this size ('2GB', '700 MiB', bytes).",
        examples=["2GB"],
    )
    on_change: Literal["fail", "latest"] = Field(
        "fail",
        description="When a file changes between the request and its reading and the store keeps no "
        "old version: 'fail' the ticket naming it, or use the 'latest' bytes and mark it in the manifest.",
    )
    priority: Priority = Field(Priority.NORMAL, description="Queued builds run by priority, then by arrival.")
    archive: Literal["auto", "zip"] = Field(
        "auto",
        description="'auto': a request for exactly one file links to the file itself, no ZIP; "
        "'zip': always a ZIP.",
    )
    callback_url: str | None = Field(
        None,
        description="Where filegate POSTs (signed, see 'Webhooks' in docs/api.md) once the ticket is "
        "ready, failed, cancelled or expired: https to a public address, or a host the operator "
        "allowed; no user name or password in it.",
        examples=["https://hooks.example.com/filegate"],
    )


class TicketCreated(BaseModel):
    ticket_id: str
    status: TicketStatus
    name: str = Field(description="The archive's base name, as it will be downloaded.")
    file_count: int
    total_size: int = Field(description="Bytes of the selected files (before compression).")
    created_at: datetime
    status_url: str = Field(description="Server-Sent Events of this ticket; works with no header.")
    result_url: str = Field(description="The parts and their links once ready; works with no header.")
    expires_at: datetime


class Progress(BaseModel):
    """How far a build is; throttled, the first event always goes out (it tells the part count)."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    percent: float
    part: int = Field(description="The part being written, from 1.")
    parts_total: int


class QueuePosition(BaseModel):
    position: int = Field(description="1 for the next build to start.")
    reason: Literal["waiting_for_slot", "waiting_for_space"]


class TicketState(BaseModel):
    """What GET /ticket/{id}/status (as JSON) and DELETE /ticket/{id} answer."""

    ticket_id: str
    status: TicketStatus
    name: str = Field(description="The archive's base name, as it will be downloaded.")
    created_at: datetime
    expires_at: datetime
    file_count: int
    total_size: int = Field(description="Bytes of the selected files (before compression).")
    position: QueuePosition | None = Field(None, description="While queued: its place in line; else absent.")
    progress: Progress | None = Field(None, description="The latest progress of its build; absent before.")
    error: str | None = Field(None, description="Why it failed; absent unless failed.")


class PartLink(BaseModel):
    name: str = Field(description="The file name the download is saved under.")
    size: int
    sha256: str | None = Field(description="Hex digest; null for a file linked directly (never read).")
    url: str = Field(description="A presigned S3 URL or a signed link to GET /files or /sources.")
    expires_at: datetime


class ArchivePart(PartLink):
    part: int = Field(description="Its number, from 1.")
    oversized: bool = Field(description="A single file larger than split_size, alone in its part.")


class PendingPart(BaseModel):
    part: int = Field(description="Its number, from 1.")
    name: str = Field(description="The file name it will be saved under.")


class TicketResult(TicketState):
    """What GET /ticket/{id}/result answers once the ticket is ready, or while it is preparing
    once its first part is committed (``partial``: the parts so far, the others pending)."""

    partial: bool = Field(
        description="True while the build goes on: `parts` has those committed so far, `pending` the rest."
    )
    parts_total: int = Field(description="How many parts the archive has (the manifest aside).")
    parts: list[ArchivePart] = Field(description="The parts ready to download, in order.")
    pending: list[PendingPart] = Field(description="The parts still being built; empty once ready.")
    manifest: PartLink | None = Field(
        description="The manifest (JSON) of an archive, once ready; null for a direct file and while partial."
    )


class ListedTicket(TicketState):
    status_url: str
    result_url: str


class TicketList(BaseModel):
    tickets: list[ListedTicket] = Field(description="Newest first.")
    events_url: str = Field(description="One event stream of all these tickets; works with no header.")
    events_cursor: str = Field(description="Pass as `after` to events_url: no event is missed.")
