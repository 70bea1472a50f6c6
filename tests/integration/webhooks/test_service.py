"""WebhookService on the real Redis against a TLS receiver in the test process: an https callback is
posted to the address checked with the URL's host in Host, in SNI and in the certificate check;
a certificate for another name fails the attempt; one delivered state is not posted again."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from filegate.callbacks import check_callback, resolve_callback
from filegate.metrics.cluster import WebhookMetrics
from filegate.state import keys
from filegate.state.states import TicketStatus
from filegate.webhooks.service import WebhookService
from filegate.webhooks.signing import is_valid
from tests.integration.conftest import MakeServices
from tests.integration.wiring import Services


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass
class TlsReceiver:
    port: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


def _serve(cert: Path, key: Path, address: str) -> tuple[ThreadingHTTPServer, TlsReceiver]:
    receiver = TlsReceiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def note_name(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        receiver.server_names.append(name)

    context.sni_callback = note_name  # type: ignore[assignment]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

    server = Server((address, 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, receiver


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TlsReceiver, Path]]:
    """A TLS receiver for 'localhost' on the address that name resolves to first, its certificate
    trusted by this process (SSL_CERT_FILE), and the folder for other certificates."""
    cert, key = _certificate(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    address = str(resolve_callback(check_callback("https://localhost/", ("localhost",))))
    server, receiver = _serve(cert, key, address)
    try:
        yield receiver, tmp_path
    finally:
        server.shutdown()
        server.server_close()


def _service(services: Services) -> WebhookService:
    return WebhookService(services.redis, services.storage, services.settings, WebhookMetrics(services.redis))


async def test_an_https_callback_names_its_host_in_sni_and_host_and_is_posted_once(
    make_services: MakeServices, tls: tuple[TlsReceiver, Path]
) -> None:
    receiver, _ = tls
    services = make_services(webhook_allowed_hosts="localhost")
    services.put("one.txt", b"one file")
    url = f"https://localhost:{receiver.port}/in?k=1"
    record = await services.request(["one.txt"], callback_url=url)
    service = _service(services)

    assert service.attempt(record.ticket_id, TicketStatus.READY, 1).outcome == "delivered"
    assert service.attempt(record.ticket_id, TicketStatus.READY, 2).outcome == "done"

    [(path, headers, body)] = receiver.requests
    assert path == "/in?k=1"
    assert headers["host"] == f"localhost:{receiver.port}"
    assert receiver.server_names == ["localhost"]
    assert is_valid(services.settings.webhook_secret, headers, body, now=float(headers["webhook-timestamp"]))
    assert services.redis.hget(keys.METRICS, "webhooks:delivered") == "1"


async def test_a_certificate_for_another_name_fails_the_attempt(
    make_services: MakeServices, tls: tuple[TlsReceiver, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, folder = tls
    other_cert, other_key = _certificate(folder, "other.example")
    # Trusted, but for another name: the name in the URL is what the certificate must show.
    monkeypatch.setenv("SSL_CERT_FILE", str(other_cert))
    address = str(resolve_callback(check_callback("https://localhost/", ("localhost",))))
    server, impostor = _serve(other_cert, other_key, address)
    try:
        services = make_services(webhook_allowed_hosts="localhost")
        services.put("one.txt", b"one file")
        record = await services.request(["one.txt"], callback_url=f"https://localhost:{impostor.port}/")

        answer = _service(services).attempt(record.ticket_id, TicketStatus.READY, 1)
    finally:
        server.shutdown()
        server.server_close()

    assert answer.outcome == "failed"
    assert impostor.requests == [] and receiver.requests == []
    assert not services.redis.exists(keys.webhook_sent(record.ticket_id, "ready"))


async def test_an_attempt_under_way_makes_another_wait(services: Services) -> None:
    services.put("one.txt", b"one file")
    record = await services.request(["one.txt"], callback_url="https://hooks.example.com/")
    services.redis.set(keys.webhook_attempt(record.ticket_id, "ready"), "1")

    assert _service(services).attempt(record.ticket_id, TicketStatus.READY, 1).outcome == "busy"
