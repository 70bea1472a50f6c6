"""Downloading a part to a file: resumed with HTTP Range from what is on disk, checked by SHA-256."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from filegate.client.errors import ChecksumMismatch, ConnectionFailed, raise_for_error
from filegate.client.events import DEFAULT_BACKOFF, Backoff
from filegate.client.models import Part

CHUNK_BYTES = 1 << 20
OnBytes = Callable[[int], None]


@dataclass(frozen=True)
class SavedPart:
    """A part on disk, verified; ``reused_bytes`` were already there (all of them when skipped)."""

    part: Part
    path: Path
    reused_bytes: int
    is_skipped: bool


def partial_path(target: Path) -> Path:
    """Where a part grows until it is complete and verified, so a half file never looks whole."""
    return target.with_name(target.name + ".part")


class _Growing:
    """The partial file open for appending, with the SHA-256 of everything in it."""

    def __init__(self, path: Path, on_bytes: OnBytes | None) -> None:
        self.path = path
        self.on_bytes = on_bytes
        self.digest = hashlib.sha256()
        self.out: BinaryIO = path.open("a+b")
        self.out.seek(0)
        while chunk := self.out.read(CHUNK_BYTES):
            self.add(chunk, written=True)

    @property
    def size(self) -> int:
        return self.out.tell()

    def add(self, chunk: bytes, *, written: bool = False) -> None:
        if not written:
            self.out.write(chunk)
        self.digest.update(chunk)
        if self.on_bytes is not None:
            self.on_bytes(len(chunk))

    def restart(self) -> None:
        self.out.seek(0)
        self.out.truncate()
        self.digest = hashlib.sha256()

    def close(self) -> None:
        self.out.close()


def _sha256_of(path: Path, on_bytes: OnBytes | None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def _expected(part: Part) -> str:
    return part.sha256 or f"{part.size} bytes"


def save_part(
    http: httpx.Client,
    part: Part,
    directory: Path,
    *,
    on_bytes: OnBytes | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> SavedPart:
    """``part`` saved as ``directory/part.name``. A complete file already there is kept if its
    SHA-256 matches (``ChecksumMismatch`` if not: it is left for its owner to look at); a partial
    one (``name.part``, or a shorter ``name``) is continued from its end. A part whose ``sha256``
    is null (a file linked directly) is checked by its size only."""
    target = directory / part.name
    partial = partial_path(target)
    if target.exists():
        if target.stat().st_size >= part.size:
            actual = _sha256_of(target, on_bytes)
            if target.stat().st_size != part.size or part.sha256 not in (None, actual):
                raise ChecksumMismatch(target, _expected(part), actual)
            return SavedPart(part, target, part.size, is_skipped=True)
        target.replace(partial)
    if partial.exists() and partial.stat().st_size > part.size:
        partial.unlink()
    growing = _Growing(partial, on_bytes)
    reused = growing.size
    try:
        _fetch_rest(http, part, growing, backoff, sleep)
        size = growing.size
    finally:
        growing.close()
    actual = growing.digest.hexdigest()
    if size != part.size or part.sha256 not in (None, actual):
        # Which bytes are wrong cannot be known: the next attempt starts afresh.
        partial.unlink()
        raise ChecksumMismatch(target, _expected(part), actual)
    partial.replace(target)
    return SavedPart(part, target, reused, is_skipped=False)


def _fetch_rest(
    http: httpx.Client, part: Part, growing: _Growing, backoff: Backoff, sleep: Callable[[float], None]
) -> None:
    """Append the bytes the partial file lacks, resuming after each dropped connection; an
    attempt that brings nothing counts as a failure too, so a stalling server cannot loop us."""
    failures = 0
    while growing.size < part.size:
        before = growing.size
        reason = "the server sent no bytes"
        try:
            _fetch_range(http, part, growing)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
        if growing.size > before:
            failures = 0
            continue
        failures += 1
        if failures > backoff.attempts:
            raise ConnectionFailed(part.url.split("?", 1)[0], reason)
        sleep(backoff.delay(failures))


def _fetch_range(http: httpx.Client, part: Part, growing: _Growing) -> None:
    offset = growing.size
    # identity: a range counts bytes of the file itself, not of a compressed answer.
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    with http.stream("GET", part.url, headers=headers, timeout=httpx.Timeout(30)) as answer:
        if answer.status_code not in (200, 206):
            answer.read()
            raise_for_error(answer)
        if answer.status_code == 200 and offset:
            # The server sent the whole file, not the range: take it from its first byte.
            growing.restart()
        try:
            # Chunks as they arrive (no re-chunking buffer): what came before a drop is kept.
            for chunk in answer.iter_bytes():
                growing.add(chunk)
        finally:
            growing.out.flush()
