"""Normalising requested paths: relative to the store's root, and nothing that escapes it."""

from __future__ import annotations

from dataclasses import dataclass

from filegate.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class RequestedPath:
    path: str
    """Normalised: no leading or trailing '/', no '.' or empty segments."""
    wants_folder: bool
    """The caller wrote a trailing '/'."""


def normalise_path(raw: str, field: str) -> RequestedPath:
    """Refuse absolute paths, '..', NUL and empty paths; fold '//' and '.' segments."""
    if not raw or not raw.strip():
        raise InvalidRequest("a path is empty", field=field)
    if "\x00" in raw:
        raise InvalidRequest("a path contains a NUL character", field=field, path=raw)
    if raw.startswith("/"):
        raise InvalidRequest(
            f"{raw!r} is absolute; paths are relative to the store's root", field=field, path=raw
        )
    segments = raw.split("/")
    if ".." in segments:
        raise InvalidRequest(f"{raw!r} contains '..'", field=field, path=raw)
    kept = [segment for segment in segments if segment not in ("", ".")]
    if not kept:
        raise InvalidRequest(f"{raw!r} names the root itself; select files or folders", field=field, path=raw)
    return RequestedPath(path="/".join(kept), wants_folder=raw.endswith("/"))


def normalise_paths(raw_paths: list[str]) -> list[RequestedPath]:
    """Every path normalised, in order; a path given twice is refused."""
    seen: dict[str, int] = {}
    result = []
    for index, raw in enumerate(raw_paths):
        requested = normalise_path(raw, f"paths[{index}]")
        if requested.path in seen:
            raise InvalidRequest(
                f"{raw!r} is the same path as paths[{seen[requested.path]}]",
                field=f"paths[{index}]",
                path=raw,
            )
        seen[requested.path] = index
        result.append(requested)
    return result
