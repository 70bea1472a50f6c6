"""GET /files/...: signed, expiring links to archives of the local store, with resume."""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from filegate.storage.signing import sign_link
from tests.client import api_delete, download_ready
from tests.conftest import Deployment


@pytest.fixture(scope="module")
def ready_link(local_deployment: Deployment) -> tuple[str, bytes]:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/data.bin", os.urandom(200_000))
    body, [blob] = download_ready(local_deployment.base_url, [f"{root}/"], name="Photos été")
    url: str = body["parts"][0]["url"]
    return url, blob


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_link_serves_the_archive_as_an_attachment(ready_link: tuple[str, bytes]) -> None:
    url, blob = ready_link
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == blob
    assert response.headers["content-length"] == str(len(blob))
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["etag"]
    assert response.headers["accept-ranges"] == "bytes"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Photos%20%C3%A9t%C3%A9.zip" in disposition


def test_range_request_resumes_with_206(ready_link: tuple[str, bytes]) -> None:
    url, blob = ready_link
    response = httpx.get(url, headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.content == blob[1000:]
    assert response.headers["content-range"] == f"bytes 1000-{len(blob) - 1}/{len(blob)}"
    middle = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.content == blob[10:20]
    suffix = httpx.get(url, headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206 and suffix.content == blob[-100:]


def test_range_past_the_end_is_416(ready_link: tuple[str, bytes]) -> None:
    url, blob = ready_link
    response = httpx.get(url, headers={"Range": f"bytes={len(blob)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(blob)}"


def test_if_range_with_a_stale_etag_sends_the_whole_file(ready_link: tuple[str, bytes]) -> None:
    url, blob = ready_link
    response = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert response.status_code == 200 and response.content == blob


def test_head_answers_headers_only(ready_link: tuple[str, bytes]) -> None:
    url, blob = ready_link
    response = httpx.head(url)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(blob))
    assert response.content == b""


@pytest.mark.parametrize(
    "changes",
    [
        {"sig": "0" * 64},
        {"name": "other.zip"},
        {"expires": str(int(time.time()) + 10**6)},
        {"ticket": "another-ticket"},
    ],
)
def test_a_tampered_link_is_403(ready_link: tuple[str, bytes], changes: dict[str, str]) -> None:
    url, _ = ready_link
    response = httpx.get(_with_query(url, **changes))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_a_link_to_another_key_with_the_same_signature_is_403(ready_link: tuple[str, bytes]) -> None:
    url, _ = ready_link
    parts = urlsplit(url)
    other = parts._replace(path=parts.path.replace("/files/", "/files/x")).geturl()
    assert httpx.get(other).status_code == 403


def test_an_expired_link_is_410(local_deployment: Deployment, ready_link: tuple[str, bytes]) -> None:
    url, _ = ready_link
    key = urlsplit(url).path.removeprefix("/files/")
    ticket = _ticket_of(url)
    expired = sign_link(
        local_deployment.base_url, "test-signing-secret", key, "x.zip", int(time.time()) - 1, ticket
    )
    response = httpx.get(expired)
    assert response.status_code == 410
    assert response.json()["error"] == "gone"


def test_a_validly_signed_key_still_cannot_leave_the_output_folder(
    local_deployment: Deployment, ready_link: tuple[str, bytes]
) -> None:
    local_deployment.sources.put("secret.txt", b"secret")
    key = "../files/secret.txt"
    expires = int(time.time()) + 60
    ticket = _ticket_of(ready_link[0])  # a live ticket: only the key is wrong
    link = sign_link(local_deployment.base_url, "test-signing-secret", key, "x", expires, ticket)
    # Encoded slashes keep the client from folding the '..' away before it is sent.
    raw = link.replace("/files/../files/secret.txt", "/files/..%2Ffiles%2Fsecret.txt")
    assert "%2F" in raw
    response = httpx.get(raw)
    assert response.status_code == 422
    assert b"secret" not in response.content.replace(b"secret.txt", b"")


def test_a_released_tickets_link_is_410_while_another_ticket_holds_the_archive(
    local_deployment: Deployment,
) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/shared.bin", os.urandom(50_000))
    first, _ = download_ready(local_deployment.base_url, [f"{root}/"])
    second, _ = download_ready(local_deployment.base_url, [f"{root}/"])
    first_url, second_url = first["parts"][0]["url"], second["parts"][0]["url"]
    assert urlsplit(first_url).path == urlsplit(second_url).path  # one archive, two tickets
    assert httpx.get(first_url).status_code == 200

    released = api_delete(local_deployment.base_url, f"/ticket/{first['ticket_id']}")
    assert released.status_code == 200 and released.json()["status"] == "expired"

    refused = httpx.get(first_url)
    assert refused.status_code == 410
    assert refused.json()["error"] == "gone" and refused.json()["ticket_id"] == first["ticket_id"]
    assert httpx.head(first_url).status_code == 410
    kept = httpx.get(second_url)
    assert kept.status_code == 200 and len(kept.content) > 0


def _ticket_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["ticket"][0]


def test_missing_query_parameters_are_422(ready_link: tuple[str, bytes]) -> None:
    url, _ = ready_link
    response = httpx.get(url.split("?")[0])
    assert response.status_code == 422
