"""Input built to break things: a 4xx JSON error naming what and where, never a 5xx."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.client import api_get, api_post
from tests.conftest import Deployment

NAME_MAX = 255
"""Bytes in one path component on Linux filesystems (and the S3 tests' limit is 1,024 a key)."""


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] and body["detail"]
    return body


def _post(deployment: Deployment, body: Any, **options: Any) -> httpx.Response:
    return api_post(deployment.base_url, "/download", json=body, timeout=30, **options)


TOO_LONG_ANYWHERE = {
    "path-5024": "/".join(["d" * 200] * 25),  # past PATH_MAX (4,096) and an S3 key's 1,024
    "name-10000": "docs/" + "x" * 10_000,
}
TOO_LONG_A_NAME = {"name-256": "n" * (NAME_MAX + 1), "name-256-bytes-utf8": "é" * 128}
"""Past NAME_MAX: no file on the local store can have it (an S3 key may)."""


@pytest.mark.parametrize("path", TOO_LONG_ANYWHERE.values(), ids=TOO_LONG_ANYWHERE.keys())
def test_paths_longer_than_the_store_allows_are_422(deployment: Deployment, path: str) -> None:
    error = _error(_post(deployment, {"paths": ["docs/a.txt", path]}), 422)
    assert error["field"] == "paths[1]"
    assert error["max_bytes"] == (4095 if deployment.sources.kind == "local" else 1024)


@pytest.mark.parametrize("path", TOO_LONG_A_NAME.values(), ids=TOO_LONG_A_NAME.keys())
def test_names_longer_than_the_filesystem_allows_are_422(local_deployment: Deployment, path: str) -> None:
    error = _error(_post(local_deployment, {"paths": [f"docs/{path}/a.txt"]}), 422)
    assert error["field"] == "paths[0]"
    assert error["max_bytes"] == NAME_MAX


@pytest.mark.parametrize("path", TOO_LONG_ANYWHERE.values(), ids=TOO_LONG_ANYWHERE.keys())
def test_browsing_a_path_longer_than_the_store_allows_is_422(deployment: Deployment, path: str) -> None:
    error = _error(api_get(deployment.base_url, "/browse", params={"path": path}), 422)
    assert error["field"] == "path"


def test_browsing_a_name_longer_than_the_filesystem_allows_is_422(local_deployment: Deployment) -> None:
    response = api_get(local_deployment.base_url, "/browse", params={"path": "n" * (NAME_MAX + 1)})
    assert _error(response, 422)["field"] == "path"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("split_size", 10**40),
        ("split_size", "9" * 400 + " GB"),
        ("split_size", "1e400 GB"),
        ("expires_in", 10**40),
        ("expires_in", "9" * 400 + " days"),
        ("expires_in", 1e308),
        ("priority", 10**40),
    ],
    ids=[
        "split-int",
        "split-digits",
        "split-exponent",
        "expiry-int",
        "expiry-digits",
        "expiry-float",
        "priority",
    ],
)
def test_huge_numbers_are_422_naming_the_field(deployment: Deployment, field: str, value: Any) -> None:
    deployment.sources.put("hostile/a.txt", b"a")
    error = _error(_post(deployment, {"paths": ["hostile/a.txt"], field: value}), 422)
    assert field in (error.get("field"), *[item["field"] for item in error.get("errors", [])])


def test_a_number_of_thousands_of_digits_is_refused(local_deployment: Deployment) -> None:
    body = b'{"paths": ["a"], "split_size": ' + b"9" * 5000 + b"}"
    response = api_post(
        local_deployment.base_url, "/download", content=body, headers={"content-type": "application/json"}
    )
    _error(response, response.status_code)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
def test_deeply_nested_json_is_refused(local_deployment: Deployment, depth: int) -> None:
    body = b'{"paths": ' + b"[" * depth + b"]" * depth + b"}"
    response = api_post(
        local_deployment.base_url, "/download", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert _error(response, response.status_code)["field"] in ("body", "paths")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"paths": ["a"]', "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b'{"paths": ["a"]}', "text/plain"),
        (b"paths=a", "application/x-www-form-urlencoded"),
        (b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b'"paths"', "application/json"),
    ],
    ids=["truncated", "not-utf8", "text-plain", "form", "multipart", "empty", "null", "string"],
)
def test_bodies_that_are_not_the_json_asked_for_are_4xx(
    local_deployment: Deployment, content: bytes, content_type: str
) -> None:
    response = api_post(
        local_deployment.base_url, "/download", content=content, headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text
    _error(response, response.status_code)


def test_a_huge_header_is_refused_not_failed(local_deployment: Deployment) -> None:
    response = httpx.get(
        f"{local_deployment.base_url}/tickets", headers={"X-Filler": "x" * 200_000}, timeout=30
    )
    assert 400 <= response.status_code < 500


def test_a_huge_authorization_header_is_401(local_deployment: Deployment) -> None:
    response = httpx.get(
        f"{local_deployment.base_url}/tickets", headers={"Authorization": "Bearer " + "k" * 8000}, timeout=30
    )
    _error(response, 401)


@pytest.mark.parametrize(
    "query",
    [
        "expires=1&name=a&ticket=t&sig=%FF%FE",
        "expires=99999999999999999999999999999&name=a&ticket=t&sig=s",
        "expires=-99999999999999999999999999999&name=a&ticket=t&sig=s",
        f"expires={int(time.time()) + 3600}&name=%00&ticket=%00&sig=%C3%A9",
        "expires=1&expires=2&name=a&name=b&ticket=t&sig=s",
        "expires=nan&name=a&ticket=t&sig=s",
        "name=a",
    ],
    ids=["sig-not-utf8", "expires-huge", "expires-huge-negative", "nul", "repeated", "nan", "missing"],
)
@pytest.mark.parametrize("route", ["/files/k%FF%00/part.zip", "/sources/" + "s" * 300])
def test_odd_link_queries_are_4xx(local_deployment: Deployment, route: str, query: str) -> None:
    for method in ("GET", "HEAD"):
        response = httpx.request(method, f"{local_deployment.base_url}{route}?{query}", timeout=30)
        assert 400 <= response.status_code < 500, (method, response.status_code, response.text)
        if method == "GET":
            _error(response, response.status_code)
