"""The caller of a request, its scopes, and what they allow."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from filegate.errors import InvalidRequest
from filegate.state.queue import RANK, Priority


class PrincipalKind(StrEnum):
    APP = "app"
    USER = "user"
    ANONYMOUS = "anonymous"
    """Every caller when FILEGATE_AUTH=off."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: str
    """The app id, the user id (never reused), or '-' when anonymous."""
    app_id: str
    scopes: tuple[str, ...]
    """Normalised path prefixes this principal may read; '' is the whole store."""
    max_priority: Priority
    name: str = ""
    """The app's name or the user name, for people to read."""

    @property
    def owner(self) -> str:
        """What a ticket records as its owner (and what rate limits count by)."""
        return f"{self.kind.value}:{self.id}"

    def may_read(self, path: str) -> bool:
        return any(within(path, scope) for scope in self.scopes)

    def may_use(self, priority: Priority) -> bool:
        return RANK[priority] >= RANK[self.max_priority]


ANONYMOUS = Principal(PrincipalKind.ANONYMOUS, "-", "-", ("",), Priority.HIGH)


def within(path: str, scope: str) -> bool:
    """Whether normalised ``path`` is ``scope`` or lies below it (by whole segments)."""
    return scope == "" or path == scope or path.startswith(scope + "/")


def normalise_scope(raw: str, field: str) -> str:
    """A path prefix: no leading or trailing '/', no '.', '..' or empty segments; '' or '/' is
    the whole store."""
    if "\x00" in raw:
        raise InvalidRequest("a scope contains a NUL character", field=field)
    segments = raw.split("/")
    if ".." in segments:
        raise InvalidRequest(f"the scope {raw!r} contains '..'", field=field)
    return "/".join(segment for segment in segments if segment not in ("", "."))


def normalise_scopes(raw: list[str], field: str = "scopes") -> tuple[str, ...]:
    scopes = [normalise_scope(scope, f"{field}[{index}]") for index, scope in enumerate(raw)]
    # A scope inside another adds nothing.
    kept = {scope for scope in scopes if not any(other != scope and within(scope, other) for other in scopes)}
    return tuple(sorted(kept))
