"""Which entries to deflate: already-compressed data gains nothing and costs CPU."""

from __future__ import annotations

import posixpath

from isal import isal_zlib

COMPRESSED_EXTENSIONS = frozenset(
    [
        "7z",
        "apk",
        "avif",
        "br",
        "bz2",
        "cab",
        "deb",
        "docx",
        "dmg",
        "epub",
        "flac",
        "gif",
        "gz",
        "heic",
        "heif",
        "iso",
        "jar",
        "jpeg",
        "jpg",
        "lz",
        "lz4",
        "lzma",
        "m4a",
        "m4v",
        "mkv",
        "mov",
        "mp3",
        "mp4",
        "odp",
        "ods",
        "odt",
        "ogg",
        "opus",
        "pdf",
        "png",
        "pptx",
        "rar",
        "rpm",
        "tbz",
        "tgz",
        "txz",
        "webm",
        "webp",
        "whl",
        "woff",
        "woff2",
        "xlsx",
        "xz",
        "zip",
        "zst",
    ]
)


PROBE_BYTES = 64 * 1024
# Deflate must save at least this share of the probe for the entry to be deflated.
PROBE_MIN_SAVING = 0.03
# The probe deflates with isal (ISA-L) at level 1, the fastest that judges like zlib does
# (docs/deflate.md); the entries themselves are deflated by archive/deflate.py.
PROBE_LEVEL = 1


def is_compressed_format(name: str) -> bool:
    return posixpath.splitext(name)[1].lstrip(".").lower() in COMPRESSED_EXTENSIONS


def compresses_well(first_block: bytes | memoryview) -> bool:
    """Whether deflating the file's first block saves enough to be worth it."""
    probe = first_block[:PROBE_BYTES]
    if len(probe) == 0:
        return False
    compressed = len(isal_zlib.compress(probe, PROBE_LEVEL, -15))
    return compressed <= len(probe) * (1 - PROBE_MIN_SAVING)


def should_deflate(name: str, compression: str, first_block: bytes | memoryview) -> bool:
    """``store`` never, ``deflate`` always; ``auto`` unless the format is compressed already
    or the first block does not shrink."""
    if compression == "store":
        return False
    if compression == "deflate":
        return True
    return not is_compressed_format(name) and compresses_well(first_block)
