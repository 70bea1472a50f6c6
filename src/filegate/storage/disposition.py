"""Content-Disposition values that keep non-ASCII file names intact (RFC 6266, RFC 8187)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote


def content_disposition(filename: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = "".join(ch if ch.isprintable() and ch not in '"\\' else "_" for ch in ascii_name)
    value = f'attachment; filename="{ascii_name or "download"}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
