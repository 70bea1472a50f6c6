"""Which callback URLs filegate may post to: checked when a ticket is created, and again at delivery.

A callback URL is chosen by the caller, and the workers that post to it sit
inside the operator's network: without these checks a request could make
them post to Redis, a cloud metadata service or an admin page on loopback
(server-side request forgery). The literal address is checked when the URL is
given; a host name is resolved and its addresses checked at every attempt,
and the attempt connects to the address checked, so a name that resolves
elsewhere in between (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
"""Longest callback URL accepted (a URL is kept with its ticket and sent to a worker)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedCallback(ValueError):
    """A callback URL filegate will not post to; the message says why, for the caller."""


@dataclass(frozen=True, slots=True)
class Callback:
    """A checked callback URL, split into what an attempt needs."""

    url: str
    scheme: str
    host: str
    """Lower case, without brackets for IPv6."""
    port: int
    target: str
    """The path and query sent in the request line."""
    is_listed: bool
    """The host is in FILEGATE_WEBHOOK_ALLOWED_HOSTS: its addresses are not checked."""

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_allowed_hosts(value: str) -> tuple[str, ...]:
    """Host names or addresses, comma separated, as FILEGATE_WEBHOOK_ALLOWED_HOSTS is written."""
    hosts = []
    for item in value.split(","):
        host = item.strip().lower().removeprefix("[").removesuffix("]")
        if not host:
            continue
        if "/" in host or " " in host or "@" in host:
            raise ValueError(f"{item.strip()!r} is not a host name or address (no scheme, path or port)")
        hosts.append(_normal_host(host))
    return tuple(hosts)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally: '10.0.0.1', '::1', and the old IPv4 forms that resolvers
    still read as addresses ('2130706433', '0x7f.1', '127.1'); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(ch in "0123456789abcdefx." for ch in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public(address: IPAddress) -> bool:
    """False for loopback, link-local, private, shared, unspecified, multicast, reserved and
    documentation addresses, including IPv4 ones written as IPv6 (::ffff:127.0.0.1)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _normal_host(host: str) -> str:
    address = literal_address(host)
    return str(address) if address is not None else host.rstrip(".")


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise RefusedCallback(f"the callback URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise RefusedCallback("the callback URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError as exc:
        raise RefusedCallback(f"the callback URL cannot be read: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedCallback("the callback URL must be an absolute http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise RefusedCallback("the callback URL must not carry a user name or password")
    return parts


def check_callback(url: str, allowed_hosts: tuple[str, ...]) -> Callback:
    """The URL checked as far as it can be without resolving its host; RefusedCallback says why not."""
    parts = _split(url)
    host = _normal_host((parts.hostname or "").lower())
    is_listed = host in allowed_hosts
    address = literal_address(host)
    if address is not None and not is_listed and not is_public(address):
        raise RefusedCallback(
            f"the callback URL names {address}, a private, loopback, link-local or otherwise "
            "non-public address, which filegate does not post to"
        )
    if parts.scheme == "http" and not is_listed:
        raise RefusedCallback(
            f"the callback URL must use https (plain http only to hosts in "
            f"FILEGATE_WEBHOOK_ALLOWED_HOSTS, which {host!r} is not)"
        )
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Callback(url, parts.scheme, host, port, target, is_listed)


def resolve_callback(callback: Callback) -> IPAddress:
    """The address an attempt connects to: the host's first, once every address it resolves to
    is found public (a listed host's are taken as they are). Raises RefusedCallback, or OSError
    when the name does not resolve."""
    literal = literal_address(callback.host)
    if literal is not None:
        found = [literal]
    else:
        infos = socket.getaddrinfo(callback.host, callback.port, type=socket.SOCK_STREAM)
        found = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not found:
        raise OSError(f"{callback.host} resolves to no address")
    if not callback.is_listed:
        blocked = [address for address in found if not is_public(address)]
        if blocked:
            raise RefusedCallback(f"{callback.host} resolves to {blocked[0]}, a non-public address")
    return found[0]
