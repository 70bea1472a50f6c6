"""Entry names every unzip tool can create on every system, decided once and deterministically.

Each path segment is made safe for Windows, the strictest of the common
file systems, then kept unique within its folder, ignoring case (Windows
and macOS would otherwise let one file overwrite another on extraction):

- ``/ \\ : * ? " < > |`` and control characters become ``_``;
- trailing dots and spaces become ``_`` (Windows drops them silently);
- reserved device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or
  without an extension, in any case) get ``_`` after the stem: ``CON.txt``
  becomes ``CON_.txt``;
- an empty segment becomes ``_``;
- a name already taken in its folder becomes ``name (2).ext``, ``name (3).ext``...
"""

from __future__ import annotations

import posixpath
import re

_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
_TRAILING = re.compile(r"[. ]+$")
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{n}" for n in range(1, 10)] + [f"LPT{n}" for n in range(1, 10)]
)


# Whether a segment needs any of the changes below (nearly every name needs none).
_NEEDS_CHANGE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]|[. ]$')
_RESERVED_LENGTHS = frozenset(len(name) for name in _RESERVED)


def safe_segment(segment: str) -> str:
    """One path segment made safe for Windows (see the module's rules)."""
    if segment and _NEEDS_CHANGE.search(segment) is None:
        stem = segment.partition(".")[0]
        if len(stem) not in _RESERVED_LENGTHS or stem.upper() not in _RESERVED:
            return segment
    name = _UNSAFE.sub("_", segment)
    name = _TRAILING.sub(lambda match: "_" * len(match.group()), name)
    stem, dot, extension = name.partition(".")
    if stem.upper() in _RESERVED:
        name = f"{stem}_{dot}{extension}"
    return name or "_"


def _numbered(name: str, number: int) -> str:
    stem, extension = posixpath.splitext(name)
    if not stem:  # dot files such as '.env' have no extension
        stem, extension = name, ""
    return f"{stem} ({number}){extension}"


class NameAllocator:
    """Hands out safe, unique names folder by folder; the same input order gives the same names."""

    def __init__(self) -> None:
        self._taken: dict[str, set[str]] = {}

    def allocate(self, parent: str, segment: str) -> str:
        """A unique safe name for ``segment`` inside the archive folder ``parent`` ('' for the top)."""
        taken = self._taken.setdefault(parent, set())
        base = safe_segment(segment)
        name, number, folded = base, 1, base.casefold()
        while folded in taken:
            number += 1
            name = _numbered(base, number)
            folded = name.casefold()
        taken.add(folded)
        return name
