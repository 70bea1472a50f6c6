"""The storage interface: read pinned sources, write archives, hand out links."""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from filegate.errors import FilegateError


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One file or folder of the source store, pinned as it was when listed.

    ``version`` is opaque: an S3 version id, else an ETag; for local files
    a token made of size, modification time and inode.
    """

    path: str
    is_dir: bool
    size: int
    modified: datetime
    version: str
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """An archive written to the output store."""

    key: str
    size: int
    sha256: str | None = None
    """Set when some of its bytes were copied inside the store, never seen by the writer: the
    SHA-256 of the object as stored, read back after it was completed."""


class ListingPhase(StrEnum):
    """A folder lists its folders first, then its files."""

    FOLDERS = "folders"
    FILES = "files"


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One child of a folder as a listing shows it.

    A folder has no ``size`` (adding up a subtree would cost a listing of all of it) and no
    ``version``; on S3 no ``modified`` either. A file's ``version`` is its ETag on S3, its pin
    (size, modification time, inode) on the local store.
    """

    name: str
    path: str
    is_dir: bool
    size: int | None
    modified: datetime | None
    version: str | None

    @property
    def position(self) -> FolderPosition:
        return FolderPosition(ListingPhase.FOLDERS if self.is_dir else ListingPhase.FILES, self.name)


@dataclass(frozen=True, slots=True)
class FolderPosition:
    """Where a listing stopped: right after the child ``name`` of ``phase``.

    Names, not offsets: entries added or removed meanwhile move nothing else. ``(FILES, "")``
    is the start of the files, every folder having been listed.
    """

    phase: ListingPhase
    name: str

    @property
    def key(self) -> tuple[int, str]:
        return listing_key(self.phase is ListingPhase.FOLDERS, self.name)


def listing_key(is_dir: bool, name: str) -> tuple[int, str]:
    """The listing order: folders first, then files; folders by their name with a trailing '/'
    (the order S3 lists prefixes in, and the one ``walk`` uses), files by name."""
    return (0, f"{name}/") if is_dir else (1, name)


def is_listable_name(name: str) -> bool:
    """Whether a child's name can be asked for again: not empty, '.' or '..' (a path would fold
    or refuse them), and valid UTF-8 (a local name may not be)."""
    if name in ("", ".", ".."):
        return False
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class FolderPage:
    entries: list[FolderEntry]
    next: FolderPosition | None
    """Where the next page starts; None after the last."""


def page_of(entries: list[FolderEntry], limit: int) -> FolderPage:
    """The page of ``limit`` entries from ``entries``, listed in order and holding one more
    entry than the page when more follow (so that the last page knows it is the last)."""
    if len(entries) <= limit:
        return FolderPage(entries, None)
    last, following = entries[limit - 1], entries[limit]
    if last.is_dir and not following.is_dir:
        # Every folder is listed: the next page starts at the files, which spares S3 a second
        # scan of the whole folder for prefixes.
        return FolderPage(entries[:limit], FolderPosition(ListingPhase.FILES, ""))
    return FolderPage(entries[:limit], last.position)


class SourceChanged(FilegateError):
    """A source no longer matches its pin: its bytes would not be the ones asked for."""

    status_code = 409
    error = "source_changed"


class PathEscapesRoot(FilegateError):
    """A path leads outside the store's root, for example through a symlink."""

    status_code = 422
    error = "invalid_path"


class StorageUnavailable(FilegateError):
    status_code = 503
    error = "storage_unavailable"


class FolderNotFound(FilegateError):
    """Nothing is at the path of a folder to list."""

    status_code = 404
    error = "not_found"


class NotAFolder(FilegateError):
    """The path of a folder to list names a file."""

    status_code = 422
    error = "invalid_request"


class OutputWriter(abc.ABC):
    """A write-once output: bytes go in, then ``commit`` publishes or ``abort`` discards."""

    @abc.abstractmethod
    def write(self, data: bytes | memoryview) -> None: ...

    @abc.abstractmethod
    def commit(self) -> StoredOutput: ...

    @abc.abstractmethod
    def abort(self) -> None: ...

    def may_copy(self, source: SourceEntry) -> bool:
        """Whether ``source`` might be copied inside the store rather than written (see
        ``copy_head_bytes``, which gives the answer for certain)."""
        return False

    def copy_head_bytes(self, source: SourceEntry, first: int) -> int | None:
        """How many of ``source``'s first bytes (at least ``first``) to write before the rest of it
        can be copied inside the store with ``copy_source``; None when it cannot be."""
        return None

    def copy_source(self, source: SourceEntry, offset: int) -> None:
        """Place ``source``'s bytes from ``offset`` to its end after what was written, copied
        inside the store; only after ``copy_head_bytes`` said how many to write first."""
        raise NotImplementedError

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()


@dataclass(frozen=True, slots=True)
class PathLimits:
    """The longest name (one segment) and path a store can hold, in bytes of UTF-8."""

    name_bytes: int
    path_bytes: int


class Storage(abc.ABC):
    """Sources are read by path relative to the store's root; outputs by key."""

    path_limits: PathLimits = PathLimits(name_bytes=1024, path_bytes=1024)
    """The longest path the store can hold: a longer one is refused as malformed (422), not
    looked up (the lookup would fail with ENAMETOOLONG, or find nothing)."""

    small_files_fetched_ahead: int = 0
    """How many small sources a build reads ahead, at once, while it writes earlier ones: each
    read of a network store waits on a round trip, a local one does not."""

    server_copy_min_size: int | None = None
    """Sources from this size on may be copied into outputs by the store itself (their CRC-32
    known); None: never."""

    metadata_is_local: bool = False
    """``stat`` and ``output_exists`` are system calls of microseconds, not network requests: the
    API may make a few on its event loop instead of paying for the hop to a thread."""

    @abc.abstractmethod
    def stat(self, path: str) -> SourceEntry | None:
        """The file or folder at ``path``, or None when nothing is there."""

    def content_pin(self, entry: SourceEntry) -> str:
        """A name of the exact bytes ``entry`` is pinned to, distinct across stores: two entries
        with one pin hold the same bytes (the CRC-32 cache keys on it)."""
        return f"{type(self).__name__}:{entry.path}\0{entry.version}"

    def stored_crc32(self, entry: SourceEntry) -> int | None:
        """The CRC-32 of the whole source as the store itself keeps it, when it keeps one."""
        return None

    def open_source_range(self, entry: SourceEntry, offset: int, length: int) -> SourceStream:
        """A reader of ``length`` pinned bytes from ``offset``: what a build reads of a source whose
        other bytes the store copies itself (OutputWriter.copy_source), so only stores whose
        outputs copy need it."""
        raise NotImplementedError(f"{type(self).__name__} reads whole sources only")

    @abc.abstractmethod
    def walk(self, folder: str) -> Iterator[SourceEntry]:
        """Every file and sub-folder below ``folder``, depth first, in name order.

        Paths are relative to the root. Each folder comes right before its subtree; siblings
        sort by name, a folder's name with its trailing '/' (the order S3 lists keys in).
        """

    def folder_tree(self, path: str) -> tuple[SourceEntry, Iterator[SourceEntry]] | None:
        """The folder at ``path`` and what ``walk`` finds below it (read lazily); None when no
        folder is there (nothing, or a file). A store whose one listing tells both overrides it."""
        entry = self.stat(path)
        if entry is None or not entry.is_dir:
            return None
        return entry, self.walk(path)

    @abc.abstractmethod
    def list_folder(self, folder: str, after: FolderPosition | None, limit: int) -> FolderPage:
        """One page of ``folder``'s children in listing order (see ``listing_key``), from after
        ``after`` (None: the start), at most ``limit`` entries.

        Local: symlinks to files inside the root are files; linked folders and links out of the
        root are left out. S3: a folder is a common prefix; keys ending in '/' (folder markers)
        are not files. Names no path could ask for again are left out (``is_listable_name``).
        Raises FolderNotFound or NotAFolder (a file), PathEscapesRoot when ``folder`` leads
        out of the root.
        """

    @abc.abstractmethod
    def child_entries(self, folder: str, names: list[str]) -> list[FolderEntry]:
        """The children of ``folder`` with these names, as ``list_folder`` would list them, in
        no particular order; those not there (or that a listing leaves out) are left out. On S3
        one name may be both a file and a folder. Never raises for a missing ``folder``.
        """

    @abc.abstractmethod
    def open_source(self, entry: SourceEntry) -> SourceStream:
        """A reader of exactly the pinned bytes; raises SourceChanged when they are gone."""

    @abc.abstractmethod
    def create_output(self, key: str) -> OutputWriter: ...

    @abc.abstractmethod
    def discard_incomplete(self, key: str) -> None:
        """Remove what an interrupted write of ``key`` left: partial files, open multipart uploads."""

    @abc.abstractmethod
    def discard_stale_incomplete(self, older_than_seconds: int, running: Collection[str] = ()) -> int:
        """Remove every partial output older than this, of any key but those of the builds
        ``running`` (keys ``<build id>/...``: a running build's upload is never taken from it,
        whatever its age is said to be); returns how many."""

    @abc.abstractmethod
    def output_exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def delete_output(self, key: str) -> None: ...

    @abc.abstractmethod
    def source_link(
        self, entry: SourceEntry, download_name: str, expires_at: datetime, ticket_id: str
    ) -> str:
        """A URL that downloads one source file as pinned in ``entry``, until ``expires_at``
        (a local link also until ticket ``ticket_id`` is released)."""

    @abc.abstractmethod
    def output_link(self, key: str, download_name: str, expires_at: datetime, ticket_id: str) -> str:
        """A URL that downloads the output as ``download_name`` until ``expires_at`` (a local
        link also until ticket ``ticket_id`` is released; a presigned S3 link cannot be revoked)."""

    def prepare(self) -> None:
        """Create what the store needs to receive outputs (folder, bucket)."""
        return None

    @abc.abstractmethod
    def check_sources(self) -> None:
        """Raise StorageUnavailable when the sources cannot be read."""

    @abc.abstractmethod
    def check_output(self) -> None:
        """Raise StorageUnavailable when outputs cannot be stored."""

    def check(self) -> None:
        """Raise StorageUnavailable when the store cannot be reached."""
        self.check_sources()
        self.check_output()


class SourceStream(abc.ABC):
    """Reads one pinned source; ``verify`` checks, after reading, that the pin still held."""

    @abc.abstractmethod
    def read(self, size: int) -> bytes: ...

    @abc.abstractmethod
    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer`` from the source; 0 at the end. Reusing one buffer spares fresh memory."""

    def verify(self) -> None:
        """Raise SourceChanged when the bytes read may not be the pinned ones."""
        return None

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> SourceStream:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
