"""The manifest written beside an archive: every part's SHA-256 and every entry's source version.

It is a separate file (``<name>.manifest.json``) rather than an entry of the
first part, because it lists the parts' digests, which exist only once the
parts are written.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from filegate.archive.parts import PlannedPart
from filegate.archive.record import Part
from filegate.storage.base import Storage

MANIFEST_FORMAT = 1


def manifest_document(
    base_name: str, plan: list[PlannedPart], parts: list[Part], changes: dict[str, str]
) -> dict[str, Any]:
    """``changes`` maps entry names to 'changed' (written as they were at build time, not as
    requested) or 'deleted' (gone before they could be read: not in the archive)."""
    return {
        "format": MANIFEST_FORMAT,
        "name": base_name,
        "deleted": sorted(name for name, change in changes.items() if change == "deleted"),
        "parts": [
            {
                "name": part.name,
                "size": part.size,
                "sha256": part.sha256,
                "oversized": part.oversized,
                "entries": [
                    {
                        "path": entry.name,
                        "source": entry.source.path,
                        "size": entry.source.size,
                        "modified": entry.source.modified.isoformat(),
                        "version": entry.source.version or None,
                        "version_id": entry.source.version_id,
                        "changed": changes.get(entry.name) == "changed",
                    }
                    for entry in planned.entries
                ],
            }
            for planned, part in zip(plan, parts, strict=True)
        ],
    }


def write_manifest(storage: Storage, key: str, name: str, document: dict[str, Any]) -> Part:
    # Compact: indentation sends json through its slow pure-Python encoder.
    data = json.dumps(document, ensure_ascii=False).encode()
    with storage.create_output(key) as output:
        output.write(data)
        output.commit()
    return Part(name=name, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(), role="manifest")
