"""Normalising requested paths: relative to the store's root, and nothing that escapes it."""

from __future__ import annotations

from dataclasses import dataclass

from filegate.errors import InvalidRequest
from filegate.storage.base import PathLimits


@dataclass(frozen=True, slots=True)
class RequestedPath:
    path: str
    """Normalised: no leading or trailing '/', no '.' or empty segments."""
    wants_folder: bool
    """The caller wrote a trailing '/'."""


UNLIMITED = PathLimits(name_bytes=2**31, path_bytes=2**31)


def _check_length(path: str, limits: PathLimits, field: str) -> None:
    # surrogatepass: a lone surrogate (JSON allows "\ud800") is counted, not a crash.
    if len(path.encode("utf-8", "surrogatepass")) > limits.path_bytes:
        raise InvalidRequest(
            f"the path is longer than the store allows ({limits.path_bytes} bytes)",
            field=field,
            max_bytes=limits.path_bytes,
        )
    for segment in path.split("/"):
        if len(segment.encode("utf-8", "surrogatepass")) > limits.name_bytes:
            raise InvalidRequest(
                f"a name in the path is longer than the store allows ({limits.name_bytes} bytes): "
                f"{segment[:40]!r}…",
                field=field,
                max_bytes=limits.name_bytes,
            )


def normalise_path(raw: str, field: str, limits: PathLimits = UNLIMITED) -> RequestedPath:
    """Refuse absolute paths, '..', NUL, empty paths and paths longer than ``limits``; fold '//'
    and '.' segments."""
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
    path = "/".join(kept)
    _check_length(path, limits, field)
    return RequestedPath(path=path, wants_folder=raw.endswith("/"))


def normalise_paths(raw_paths: list[str], limits: PathLimits = UNLIMITED) -> list[RequestedPath]:
    """Every path normalised, in order; a path given twice is refused."""
    seen: dict[str, int] = {}
    result = []
    for index, raw in enumerate(raw_paths):
        requested = normalise_path(raw, f"paths[{index}]", limits)
        if requested.path in seen:
            raise InvalidRequest(
                f"{raw!r} is the same path as paths[{seen[requested.path]}]",
                field=f"paths[{index}]",
                path=raw,
            )
        seen[requested.path] = index
        result.append(requested)
    return result
