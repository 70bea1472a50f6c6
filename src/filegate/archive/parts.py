"""Planning split archives before the build: which entries go into which standalone part.

Sizes are planned from the manifest with upper bounds (headers, the data
stored or at worst deflate's expansion, descriptors, the central directory
and end records), so every part stays within the split size whatever the
compression achieves, and the part count is known before the first byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from filegate.snapshot.manifest import Manifest, ManifestEntry

# Per part: end of central directory (22) + ZIP64 end record (56) + its locator (20).
END_RECORDS_BOUND = 98
_LOCAL_FIXED = 30
_CENTRAL_FIXED = 46
_DESCRIPTOR_BOUND = 24
# Extended timestamp (9) + ZIP64 extra (up to 4 + 3 x 8).
_EXTRA_BOUND = 9 + 28


def deflate_bound(size: int) -> int:
    """The most a deflate stream of ``size`` bytes can take (stored blocks' overhead, generously)."""
    return size + (size >> 10) + 1024


def entry_bound(entry: ManifestEntry) -> int:
    """The most bytes ``entry`` adds to a part: local header, data, descriptor and central record."""
    name = len(entry.name.encode("utf-8"))
    headers = _LOCAL_FIXED + _CENTRAL_FIXED + 2 * (name + _EXTRA_BOUND) + _DESCRIPTOR_BOUND
    if entry.source.is_dir:
        return headers
    return headers + deflate_bound(entry.source.size)


@dataclass(slots=True)
class PlannedPart:
    number: int
    entries: list[ManifestEntry] = field(default_factory=list)
    size_bound: int = END_RECORDS_BOUND
    oversized: bool = False
    """One file larger than the split size, alone in its part."""

    @property
    def file_count(self) -> int:
        return sum(1 for entry in self.entries if not entry.source.is_dir)

    @property
    def source_bytes(self) -> int:
        return sum(entry.source.size for entry in self.entries)


def plan_parts(manifest: Manifest, split_size: int | None) -> list[PlannedPart]:
    """Entries in manifest order, a new part whenever the next entry would not fit."""
    parts = [PlannedPart(number=1)]
    for entry in manifest.entries:
        cost = entry_bound(entry)
        current = parts[-1]
        if split_size is not None and current.entries and current.size_bound + cost > split_size:
            current = PlannedPart(number=len(parts) + 1)
            parts.append(current)
        current.entries.append(entry)
        current.size_bound += cost
        if split_size is not None and current.size_bound > split_size:
            # Only a single file can overflow an empty part: it stands alone.
            current.oversized = True
            parts.append(PlannedPart(number=len(parts) + 1))
    if len(parts) > 1 and not parts[-1].entries:
        parts.pop()
    return parts


def part_name(base: str, number: int, count: int) -> str:
    """``holiday.zip`` alone, ``holiday-2-of-3.zip`` in a split archive."""
    return f"{base}.zip" if count == 1 else f"{base}-{number}-of-{count}.zip"
