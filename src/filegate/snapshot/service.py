"""Taking the snapshot: stat and list every requested path, pinning what will be archived."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from filegate.errors import NotFound, TooLarge
from filegate.snapshot.manifest import Manifest, ManifestEntry
from filegate.snapshot.naming import NameAllocator
from filegate.snapshot.paths import RequestedPath
from filegate.storage.base import SourceEntry, Storage
from filegate.units import format_size


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    max_files: int
    max_total_size: int


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


def take_snapshot(
    storage: Storage,
    requested: list[RequestedPath],
    limits: SnapshotLimits,
    stats: list[SourceEntry | None] | None = None,
) -> Manifest:
    """Each selected item at the archive's top level under its own name, folders with their subtree.

    ``stats``: what ``storage.stat`` gave for each requested path, when the caller has it already.
    Without them, a path written as a folder is looked up with its subtree at once
    (``Storage.folder_tree``: one listing on S3 where a stat and a walk would be two).
    Raises NotFound naming every missing path, TooLarge past the limits.
    """
    trees: dict[int, Iterator[SourceEntry]] = {}
    if stats is None:
        stats = []
        for index, item in enumerate(requested):
            if not item.wants_folder:
                stats.append(storage.stat(item.path))
                continue
            tree = storage.folder_tree(item.path)
            stats.append(tree[0] if tree is not None else None)
            if tree is not None:
                trees[index] = tree[1]
    found = list(zip(requested, stats, strict=True))
    missing = [
        item.path for item, entry in found if entry is None or (item.wants_folder and not entry.is_dir)
    ]
    if missing:
        raise NotFound(f"{len(missing)} of the requested paths do not exist", paths=missing)

    tally = _Tally(limits)
    names = NameAllocator()
    entries: list[ManifestEntry] = []
    for index, (_, entry) in enumerate(found):
        assert entry is not None
        top = names.allocate("", posixpath.basename(entry.path))
        if not entry.is_dir:
            tally.add(entry.size)
            entries.append(ManifestEntry(name=top, source=entry))
            continue
        entries.append(ManifestEntry(name=f"{top}/", source=entry))
        # Source folder → its name in the archive; walk yields a folder before its contents.
        folders = {entry.path: top}
        for child in trees.get(index) or storage.walk(entry.path):
            source_parent, _, base = child.path.rpartition("/")
            parent = folders[source_parent]
            name = f"{parent}/{names.allocate(parent, base)}"
            if child.is_dir:
                folders[child.path] = name
                entries.append(ManifestEntry(name=f"{name}/", source=child))
            else:
                tally.add(child.size)
                entries.append(ManifestEntry(name=name, source=child))
    return Manifest(entries=entries)
