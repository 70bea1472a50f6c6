"""Hosts made of Linux network namespaces: each one its own address on a shared virtual LAN.

A namespace ``<prefix>-lan`` holds a bridge; every host is a namespace whose ``eth0`` is one end
of a veth pair, the other end plugged into that bridge. Addresses exist only inside the
namespaces, so nothing of this is seen from the machine's own network. Processes start in a
host with ``ip netns exec``; the test's own thread visits a host with ``Host.entered`` (setns
of the calling thread only: the sockets it opens there stay there after it leaves).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"
_libc = ctypes.CDLL(None, use_errno=True)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    probe = f"fgprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {path}: {os.strerror(error)}")
    finally:
        os.close(fd)


@dataclass
class Host:
    name: str
    """The namespace's name."""
    address: str
    link: str
    """The bridge's end of this host's veth pair, in the LAN namespace."""
    lan: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def command(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def start(
        self,
        label: str,
        args: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Runs ``args`` on this host, output to ``log``; stopped by ``Network.close``."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.command(args),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.processes[label] = process
        return process

    def cut(self) -> None:
        """The host's cable pulled: its link goes down, its processes keep running."""
        _ip("link", "set", "eth0", "down", netns=self.name)

    def reconnect(self) -> None:
        _ip("link", "set", "eth0", "up", netns=self.name)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """The calling thread inside this host's network for the block."""
        own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        back = os.open(own, os.O_RDONLY)
        try:
            _setns(f"/run/netns/{self.name}")
            try:
                yield
            finally:
                if _libc.setns(back, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the test's own network failed")
        finally:
            os.close(back)


class Network:
    """A LAN of hosts named ``<prefix>-<name>``, addresses 10.77.0.<n>; ``close`` removes it all."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lan = f"{prefix}-lan"
        self.hosts: dict[str, Host] = {}
        _ip("netns", "add", self.lan)
        _ip("link", "set", "lo", "up", netns=self.lan)
        _ip("link", "add", "br0", "type", "bridge", netns=self.lan)
        _ip("link", "set", "br0", "up", netns=self.lan)

    def add(self, name: str, number: int) -> Host:
        namespace = f"{self.prefix}-{name}"
        link = f"v{number}"
        address = f"{SUBNET}.{number}"
        _ip("netns", "add", namespace)
        _ip("link", "set", "lo", "up", netns=namespace)
        _ip(
            "link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", link, "netns", self.lan
        )
        _ip("link", "set", link, "master", "br0", netns=self.lan)
        _ip("link", "set", link, "up", netns=self.lan)
        _ip("addr", "add", f"{address}/24", "dev", "eth0", netns=namespace)
        _ip("link", "set", "eth0", "up", netns=namespace)
        host = self.hosts[name] = Host(namespace, address, link, self.lan)
        return host

    def close(self) -> None:
        for host in self.hosts.values():
            for process in host.processes.values():
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, 15)
            for process in host.processes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, 9)
                    process.wait()
        for host in self.hosts.values():
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.lan], capture_output=True)


def remove_leftovers(prefix_start: str) -> None:
    """Namespaces of an earlier run that was killed before it could remove them."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(prefix_start):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
