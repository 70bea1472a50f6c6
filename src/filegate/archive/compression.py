"""Which entries to deflate: already-compressed formats gain nothing and cost CPU."""

from __future__ import annotations

import posixpath

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


def should_deflate(name: str, compression: str) -> bool:
    """``store`` never, ``deflate`` always, ``auto`` unless the format is already compressed."""
    if compression == "store":
        return False
    if compression == "deflate":
        return True
    extension = posixpath.splitext(name)[1].lstrip(".").lower()
    return extension not in COMPRESSED_EXTENSIONS
