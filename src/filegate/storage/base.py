"""The storage interface: read pinned sources, write archives, hand out links."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

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


class OutputWriter(abc.ABC):
    """A write-once output: bytes go in, then ``commit`` publishes or ``abort`` discards."""

    @abc.abstractmethod
    def write(self, data: bytes | memoryview) -> None: ...

    @abc.abstractmethod
    def commit(self) -> StoredOutput: ...

    @abc.abstractmethod
    def abort(self) -> None: ...

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()


class Storage(abc.ABC):
    """Sources are read by path relative to the store's root; outputs by key."""

    @abc.abstractmethod
    def stat(self, path: str) -> SourceEntry | None:
        """The file or folder at ``path``, or None when nothing is there."""

    @abc.abstractmethod
    def walk(self, folder: str) -> Iterator[SourceEntry]:
        """Every file and sub-folder below ``folder``, depth first, in name order.

        Paths are relative to the root. Each folder comes right before its subtree; siblings
        sort by name, a folder's name with its trailing '/' (the order S3 lists keys in).
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
    def discard_stale_incomplete(self, older_than_seconds: int) -> int:
        """Remove every partial output older than this, of any key; returns how many."""

    @abc.abstractmethod
    def output_exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def delete_output(self, key: str) -> None: ...

    @abc.abstractmethod
    def source_link(self, entry: SourceEntry, download_name: str, expires_at: datetime) -> str:
        """A URL that downloads one source file as pinned in ``entry``, until ``expires_at``."""

    @abc.abstractmethod
    def output_link(self, key: str, download_name: str, expires_at: datetime) -> str:
        """A URL that downloads the output as ``download_name`` until ``expires_at``."""

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
