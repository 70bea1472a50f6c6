"""Taking the snapshot: stat and list every requested path, pinning what will be archived."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from filegate.errors import NotFound, TooLarge
from filegate.snapshot.manifest import Manifest, ManifestEntry
from filegate.snapshot.paths import RequestedPath
from filegate.storage.base import Storage
from filegate.units import format_size


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    max_files: int
    max_total_size: int


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... before its extension, whichever is free."""
    if name not in taken:
        return name
    stem, extension = posixpath.splitext(name)
    if not stem:  # dot files such as '.env' have no extension
        stem, extension = name, ""
    number = 2
    while f"{stem} ({number}){extension}" in taken:
        number += 1
    return f"{stem} ({number}){extension}"


class _Tally:
    def __init__(self, limits: SnapshotLimits) -> None:
        self._limits = limits
        self.files = 0
        self.size = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.size += size
        if self.files > self._limits.max_files:
            raise TooLarge(
                f"the selection holds more than {self._limits.max_files} files",
                limit="max_files",
                max_files=self._limits.max_files,
            )
        if self.size > self._limits.max_total_size:
            raise TooLarge(
                f"the selection is larger than {format_size(self._limits.max_total_size)}",
                limit="max_total_size",
                max_total_size=self._limits.max_total_size,
            )


def take_snapshot(storage: Storage, requested: list[RequestedPath], limits: SnapshotLimits) -> Manifest:
    """Each selected item at the archive's top level under its own name, folders with their subtree.

    Raises NotFound naming every missing path, TooLarge past the limits.
    """
    found = [(item, storage.stat(item.path)) for item in requested]
    missing = [
        item.path for item, entry in found if entry is None or (item.wants_folder and not entry.is_dir)
    ]
    if missing:
        raise NotFound(f"{len(missing)} of the requested paths do not exist", paths=missing)

    tally = _Tally(limits)
    entries: list[ManifestEntry] = []
    taken: set[str] = set()
    for _, entry in found:
        assert entry is not None
        top = unique_name(posixpath.basename(entry.path), taken)
        taken.add(top)
        if not entry.is_dir:
            tally.add(entry.size)
            entries.append(ManifestEntry(name=top, source=entry))
            continue
        entries.append(ManifestEntry(name=f"{top}/", source=entry))
        for child in storage.walk(entry.path):
            relative = child.path[len(entry.path) + 1 :]
            if child.is_dir:
                entries.append(ManifestEntry(name=f"{top}/{relative}/", source=child))
            else:
                tally.add(child.size)
                entries.append(ManifestEntry(name=f"{top}/{relative}", source=child))
    return Manifest(entries=entries)
