"""The local filesystem store: sources below one root, archives in an output folder."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import time
import uuid
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISDIR, S_ISLNK, S_ISREG

from filegate.storage.base import (
    FolderEntry,
    FolderNotFound,
    FolderPage,
    FolderPosition,
    NotAFolder,
    OutputWriter,
    PathEscapesRoot,
    PathLimits,
    SourceChanged,
    SourceEntry,
    SourceStream,
    Storage,
    StorageUnavailable,
    StoredOutput,
    is_listable_name,
    listing_key,
    page_of,
)
from filegate.storage.signing import sign_link

PARTIAL_SUFFIX = ".partial"
# A partial file is named ``.<final name>.<32 hex digits>.partial``.
_PARTIAL_TAG = "[0-9a-f]" * 32
# A path that cannot name anything: too long, or a loop of symlinks.
_NOTHING_THERE = {errno.ENAMETOOLONG, errno.ELOOP}


def _version_of(st: os.stat_result) -> str:
    # Device and inode name the file itself: a path that now leads elsewhere
    # (a replacement, a new symlink) cannot match, wherever it points.
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}-{st.st_dev}"


class LocalSourceStream(SourceStream):
    """One pinned file, through its descriptor: open, fstat, as few reads as its pinned size
    needs, fstat and stat in verify, close. A small file is read in one system call, and no
    read goes past the pinned size (a file that grew shows in verify's size)."""

    def __init__(self, path: str, entry: SourceEntry) -> None:
        self._entry = entry
        self._path = path
        self._left = entry.size
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            # Gone, or no longer a file: a folder now stands at its path or above it.
            raise SourceChanged(f"{entry.path} was deleted", paths=[entry.path]) from None
        # A folder opens too, but its version (size, mtime, inode) is not the file's.
        if _version_of(os.fstat(self._fd)) != entry.version:
            os.close(self._fd)
            raise SourceChanged(f"{entry.path} changed since it was requested", paths=[entry.path])

    def read(self, size: int) -> bytes:
        data = os.read(self._fd, min(size, self._left)) if self._left > 0 and size > 0 else b""
        self._left -= len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        wanted = min(len(buffer), self._left)
        if wanted <= 0:
            return 0
        count = os.readv(self._fd, [memoryview(buffer)[:wanted]])
        self._left -= count
        return count

    def verify(self) -> None:
        # A writer may have changed the file while it was read: its size,
        # mtime or inode (a replacement by rename) then no longer match.
        try:
            current = _version_of(os.stat(self._path))
        except (FileNotFoundError, NotADirectoryError):
            current = "deleted"
        if _version_of(os.fstat(self._fd)) != self._entry.version or current != self._entry.version:
            raise SourceChanged(f"{self._entry.path} changed while it was read", paths=[self._entry.path])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LocalOutputWriter(OutputWriter):
    """Writes beside the final name and renames on commit, so readers never see half a file."""

    def __init__(self, final_path: Path, key: str) -> None:
        self._final_path = final_path
        self._key = key
        final_path.parent.mkdir(parents=True, exist_ok=True)
        self._partial_path = final_path.with_name(f".{final_path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
        # Unbuffered: the builder hands over large, already coalesced writes.
        self._file = open(self._partial_path, "wb", buffering=0)  # noqa: SIM115 - closed by commit/abort
        self._size = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:  # a raw write may take only part of the data
            written = self._file.write(view) or 0
            view = view[written:]
        self._size += len(data)

    def commit(self) -> StoredOutput:
        self._file.close()
        os.replace(self._partial_path, self._final_path)
        return StoredOutput(key=self._key, size=self._size)

    def abort(self) -> None:
        self._file.close()
        self._partial_path.unlink(missing_ok=True)


def _stat_or_none(real: str) -> os.stat_result | None:
    try:
        return os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno in _NOTHING_THERE:
            return None
        raise


class LocalStorage(Storage):
    # NAME_MAX and PATH_MAX (less the NUL) of Linux; the root's own length comes on top.
    path_limits = PathLimits(name_bytes=255, path_bytes=4095)
    metadata_is_local = True

    def __init__(self, root: Path, output_dir: Path, public_url: str, signing_secret: str) -> None:
        self.root = os.path.realpath(root)
        self.output_dir = Path(os.path.realpath(output_dir))
        self._public_url = public_url
        self._signing_secret = signing_secret

    def _resolve(self, path: str) -> str:
        return self._resolve_stat(path)[0]

    def _resolve_stat(self, path: str) -> tuple[str, os.stat_result | None]:
        """The real path of ``path`` below the root (PathEscapesRoot when a link leads out),
        with its stat, or None when nothing is there. The root is real already, so only the
        components below it are looked at, one lstat each; a link among them, or a ``.`` or
        ``..``, takes the whole path through realpath."""
        if not path:
            return self.root, _stat_or_none(self.root)
        parts = path.split("/")
        if "" in parts or "." in parts or ".." in parts:
            return self._resolve_slow(path)
        current = self.root
        st: os.stat_result | None = None
        for part in parts:
            current = f"{current}{os.sep}{part}"
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                return os.path.join(self.root, path), None
            except OSError as exc:
                if exc.errno in _NOTHING_THERE:  # a name too long: nothing can be there
                    return os.path.join(self.root, path), None
                raise
            if S_ISLNK(st.st_mode):
                return self._resolve_slow(path)
        return current, st

    def _resolve_slow(self, path: str) -> tuple[str, os.stat_result | None]:
        real = os.path.realpath(os.path.join(self.root, path))
        if real != self.root and not real.startswith(self.root + os.sep):
            raise PathEscapesRoot(f"{path} leads outside the store", paths=[path])
        return real, _stat_or_none(real)

    def _entry(self, path: str, st: os.stat_result, is_dir: bool) -> SourceEntry:
        return SourceEntry(
            path=path,
            is_dir=is_dir,
            size=0 if is_dir else st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            version="" if is_dir else _version_of(st),
        )

    def content_pin(self, entry: SourceEntry) -> str:
        # The version token holds size, mtime, inode and device: the file itself as it was.
        return f"local:{self.root}/{entry.path}\0{entry.version}"

    def stat(self, path: str) -> SourceEntry | None:
        _, st = self._resolve_stat(path)
        if st is None:
            return None
        if S_ISDIR(st.st_mode):
            return self._entry(path, st, is_dir=True)
        if S_ISREG(st.st_mode):
            return self._entry(path, st, is_dir=False)
        return None  # sockets, fifos and devices are not files anyone downloads

    def walk(self, folder: str) -> Iterator[SourceEntry]:
        yield from self._walk(folder, self._resolve(folder))

    def _walk(self, folder: str, real: str) -> Iterator[SourceEntry]:
        """``folder``'s tree; ``real`` is its real path (a folder met on the way, not through a
        link, is below the root as its parent is: it needs no resolving of its own)."""
        try:
            # A folder sorts as its name with a trailing '/': the order S3 lists keys in,
            # so both stores put the same tree in the same order.
            children = sorted(
                os.scandir(real), key=lambda child: f"{child.name}/" if child.is_dir() else child.name
            )
        except (FileNotFoundError, NotADirectoryError):
            return
        for child in children:
            path = f"{folder.rstrip('/')}/{child.name}" if folder else child.name
            if child.is_symlink():
                target = self._resolve(path)  # raises when the link leaves the root
                if os.path.isfile(target):
                    yield self._entry(path, os.stat(target), is_dir=False)
                # Linked folders are skipped: following them could loop forever.
                continue
            if child.is_dir():
                yield self._entry(path, child.stat(), is_dir=True)
                yield from self._walk(path, child.path)
            elif child.is_file():
                yield self._entry(path, child.stat(), is_dir=False)

    def list_folder(self, folder: str, after: FolderPosition | None, limit: int) -> FolderPage:
        real = self._resolve(folder)
        start = after.key if after is not None else (-1, "")
        try:
            children = self._children_after(real, start)
        except NotADirectoryError:
            if os.path.isfile(real):
                raise NotAFolder(f"{folder} is a file, not a folder", paths=[folder]) from None
            raise FolderNotFound(f"{folder} does not exist", paths=[folder]) from None
        except FileNotFoundError:
            raise FolderNotFound(f"{folder} does not exist", paths=[folder]) from None
        except OSError as exc:
            if exc.errno in _NOTHING_THERE:
                raise FolderNotFound(f"{folder} does not exist", paths=[folder]) from None
            raise StorageUnavailable(f"{folder} cannot be read: {exc.strerror}") from None
        entries: list[FolderEntry] = []
        for kind, key in sorted(children):
            is_dir = kind == 0
            entry = self._child_entry(folder, real, key[:-1] if is_dir else key)
            # A child whose kind changed since the folder was read would break the order.
            if entry is not None and entry.is_dir == is_dir:
                entries.append(entry)
                if len(entries) > limit:
                    break
        return page_of(entries, limit)

    @staticmethod
    def _children_after(real_folder: str, start: tuple[int, str]) -> list[tuple[int, str]]:
        """The listing keys of the folder's children past ``start``, unsorted. The kinds come from
        the directory itself, without a stat per child: only a page's entries are stat'ed.
        Sockets, fifos and devices are left out; so are names a path cannot ask for."""
        children = []
        with os.scandir(real_folder) as listing:
            for child in listing:
                is_dir = child.is_dir(follow_symlinks=False)
                if not (is_dir or child.is_file(follow_symlinks=False) or child.is_symlink()):
                    continue
                key = listing_key(is_dir, child.name)
                if key > start and is_listable_name(child.name):
                    children.append(key)
        return children

    def child_entries(self, folder: str, names: list[str]) -> list[FolderEntry]:
        try:
            real = self._resolve(folder)
        except PathEscapesRoot:
            return []
        found = (self._child_entry(folder, real, name) for name in names)
        return [entry for entry in found if entry is not None]

    def _child_entry(self, folder: str, real_folder: str, name: str) -> FolderEntry | None:
        """The listing's entry for the child ``name`` of ``real_folder``; None when there is
        none, or a listing leaves it out (a linked folder, a link out of the root)."""
        path = f"{folder}/{name}" if folder else name
        full = os.path.join(real_folder, name)
        try:
            st = os.lstat(full)
            if S_ISLNK(st.st_mode):
                target = os.path.realpath(full)
                if not target.startswith(self.root + os.sep):
                    return None
                st = os.stat(target)
                if not S_ISREG(st.st_mode):
                    return None  # linked folders are left out, as walk leaves them: they could loop
        except (OSError, ValueError):
            return None
        modified = datetime.fromtimestamp(st.st_mtime, UTC)
        if S_ISDIR(st.st_mode):
            return FolderEntry(name, path, True, None, modified, None)
        if S_ISREG(st.st_mode):
            return FolderEntry(name, path, False, st.st_size, modified, _version_of(st))
        return None

    def open_source(self, entry: SourceEntry) -> SourceStream:
        # No realpath here (it costs a system call per path segment, a third of
        # a small-file build): the entry's path was checked when it was pinned,
        # and the pin's device and inode refuse any other file now at that path.
        return LocalSourceStream(os.path.join(self.root, entry.path), entry)

    def output_path(self, key: str) -> Path:
        path = Path(os.path.realpath(self.output_dir / key))
        if not path.is_relative_to(self.output_dir) or path == self.output_dir:
            raise PathEscapesRoot("archive key leads outside the output folder", key=key)
        return path

    def create_output(self, key: str) -> OutputWriter:
        return LocalOutputWriter(self.output_path(key), key)

    def discard_incomplete(self, key: str) -> None:
        final = self.output_path(key)
        for partial in final.parent.glob(f".{glob.escape(final.name)}.{_PARTIAL_TAG}{PARTIAL_SUFFIX}"):
            partial.unlink(missing_ok=True)

    def discard_stale_incomplete(self, older_than_seconds: int, running: Collection[str] = ()) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for partial in self.output_dir.rglob(f".*{PARTIAL_SUFFIX}"):
            if partial.relative_to(self.output_dir).parts[0] in running:
                continue
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
        return removed

    def output_exists(self, key: str) -> bool:
        return self.output_path(key).is_file()

    def delete_output(self, key: str) -> None:
        path = self.output_path(key)
        path.unlink(missing_ok=True)
        if path.parent != self.output_dir:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the per-build folder, once empty

    def source_link(
        self, entry: SourceEntry, download_name: str, expires_at: datetime, ticket_id: str
    ) -> str:
        expires_ts = int(expires_at.timestamp())
        secret = self._signing_secret
        return sign_link(
            self._public_url, secret, entry.path, download_name, expires_ts, ticket_id, entry.version
        )

    def pinned_source_path(self, path: str, version: str) -> Path:
        """The file at ``path`` if it is still the pinned version; SourceChanged otherwise."""
        real = self._resolve(path)
        try:
            current = _version_of(os.stat(real)) if os.path.isfile(real) else "not a file"
        except FileNotFoundError:
            current = "deleted"
        if current != version:
            raise SourceChanged(f"{path} changed since it was requested", paths=[path])
        return Path(real)

    def output_link(self, key: str, download_name: str, expires_at: datetime, ticket_id: str) -> str:
        expires_ts = int(expires_at.timestamp())
        return sign_link(self._public_url, self._signing_secret, key, download_name, expires_ts, ticket_id)

    def prepare(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)

    def check_sources(self) -> None:
        if not os.path.isdir(self.root) or not os.access(self.root, os.R_OK | os.X_OK):
            raise StorageUnavailable(f"{self.root} is not a readable folder")

    def check_output(self) -> None:
        if not os.path.isdir(self.output_dir) or not os.access(self.output_dir, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"{self.output_dir} is not a writable folder")
