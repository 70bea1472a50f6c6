"""An HTTP proxy in front of the S3 test server that notes every request it passes on, and can
refuse UploadPartCopy as a store without it does (501 NotImplemented), or reads under a prefix
as a store whose credentials may not read there does (403 AccessDenied)."""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

_NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented</Message></Error>"
)
_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    """Unquoted, without the query."""
    query: str
    headers: dict[str, str]
    """Lower-case names."""

    @property
    def is_copy(self) -> bool:
        return "x-amz-copy-source" in self.headers

    def range_bytes(self) -> int | None:
        """How many bytes its Range header asks for; None when it has none (the whole object)."""
        asked = self.headers.get("range")
        if asked is None:
            return None
        start, _, end = asked.removeprefix("bytes=").partition("-")
        return int(end) - int(start) + 1


@dataclass
class S3Proxy:
    upstream: tuple[str, int]
    refuse_copies: bool = False
    refuse_reads_under: str | None = None
    """A path prefix ("/bucket/folder/") whose GETs are refused."""
    port: int = 0
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def object_reads(self, bucket: str) -> list[Request]:
        """The GETs of objects in ``bucket`` (not listings: those ask for the bucket itself)."""
        prefix = f"/{bucket}/"
        return [
            r for r in self.requests if r.method == "GET" and r.path.startswith(prefix) and r.path != prefix
        ]

    def copies(self) -> list[Request]:
        return [request for request in self.requests if request.is_copy]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _relay(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                body = self.rfile.read(int(headers.get("content-length", "0") or 0))
                parts = urlsplit(self.path)
                request = Request(self.command, unquote(parts.path), parts.query, headers)
                proxy.requests.append(request)
                if proxy.refuse_copies and request.is_copy:
                    self._answer(501, {"Content-Type": "application/xml"}, _NOT_IMPLEMENTED)
                    return
                refused = proxy.refuse_reads_under
                if refused is not None and self.command == "GET" and request.path.startswith(refused):
                    self._answer(403, {"Content-Type": "application/xml"}, _ACCESS_DENIED)
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                    answer = upstream.getresponse()
                    data = answer.read()
                    kept = {k: v for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP}
                    self._answer(answer.status, kept, data)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                length = str(len(data))
                for name, value in headers.items():
                    if name.lower() == "content-length":
                        length = value if self.command == "HEAD" else length
                        continue
                    self.send_header(name, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler


@contextlib.contextmanager
def s3_proxy(upstream_url: str, refuse_copies: bool = False) -> Iterator[S3Proxy]:
    host, _, port = upstream_url.removeprefix("http://").partition(":")
    proxy = S3Proxy((host, int(port)), refuse_copies)
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
