"""A TCP proxy on loopback that can cut a connection after so many bytes of the answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Proxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``; the first connection's answer is cut after
    ``cut_after_bytes`` (None: never). ``requests`` holds what each connection sent upstream."""

    upstream: tuple[str, int]
    cut_after_bytes: int | None
    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    cuts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            limit = self.cut_after_bytes if not self.requests else None
            self.requests.append(b"")
            threading.Thread(
                target=self._relay, args=(client, len(self.requests) - 1, limit), daemon=True
            ).start()

    def _relay(self, client: socket.socket, number: int, limit: int | None) -> None:
        with contextlib.suppress(OSError), client, socket.create_connection(self.upstream) as server:
            threading.Thread(target=self._upstream, args=(client, server, number), daemon=True).start()
            sent = 0
            while chunk := server.recv(65536):
                if limit is not None and sent + len(chunk) >= limit:
                    client.sendall(chunk[: limit - sent])
                    self.cuts += 1
                    # shutdown, not just close: it wakes the thread reading the request side and
                    # sends the client a FIN in the middle of its answer.
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(chunk)
                sent += len(chunk)

    def _upstream(self, client: socket.socket, server: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                self.requests[number] += chunk
                server.sendall(chunk)


@contextlib.contextmanager
def cutting_proxy(upstream_url: str, cut_after_bytes: int | None) -> Iterator[Proxy]:
    host, _, port = upstream_url.removeprefix("http://").partition(":")
    proxy = Proxy((host, int(port)), cut_after_bytes)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        proxy.port = listener.getsockname()[1]
        thread = threading.Thread(target=proxy.serve, args=(listener,), daemon=True)
        thread.start()
        yield proxy
