"""Every bad request gets a JSON error naming the problem and where it is; nothing is queued."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.client import api_get, api_post, request_download
from tests.conftest import Deployment, deployed
from tests.services import service_env
from tests.sources import LocalSources


@pytest.fixture(scope="module")
def strict_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """An API with small limits and no worker; its Redis database shows whether anything was queued."""
    home = workdir / "strict"
    (home / "files").mkdir(parents=True)
    env = service_env(
        f"{redis_url}/4",
        home,
        FILEGATE_MAX_PATHS="3",
        FILEGATE_MAX_FILES="4",
        FILEGATE_MAX_TOTAL_SIZE="10KB",
        FILEGATE_MAX_EXPIRY="7 days",
        FILEGATE_MAX_REQUEST_BODY="4KB",
    )
    sources = LocalSources(home / "files")
    sources.put("docs/a.txt", b"a")
    sources.put("docs/b.txt", b"b")
    sources.put("five/1", b"1")
    for name in "2345":
        sources.put(f"five/{name}", b"x")
    sources.put("big.bin", b"x" * 20_000)
    (home / "outside.txt").write_bytes(b"secret")
    os.symlink(home / "outside.txt", home / "files" / "escape.txt")
    os.symlink(home, home / "files" / "escape-dir")
    sources.put("linked/inside.txt", b"inside")
    os.symlink(home / "files" / "docs" / "a.txt", home / "files" / "linked" / "to-a.txt")
    with deployed(home, env, sources, worker=False) as running:
        yield running


@pytest.fixture
def no_new_tickets(strict_deployment: Deployment, redis_url: str) -> Iterator[None]:
    client = redis.Redis.from_url(f"{redis_url}/4")
    before = set(client.scan_iter("filegate:ticket:*"))
    yield
    assert set(client.scan_iter("filegate:ticket:*")) == before, "a refused request left a ticket behind"


def _post(deployment: Deployment, body: Any) -> httpx.Response:
    return api_post(deployment.base_url, "/download", json=body, timeout=10)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] and body["detail"]
    return body


@pytest.mark.usefixtures("no_new_tickets")
class TestRefusedRequests:
    def test_malformed_json_is_422(self, strict_deployment: Deployment) -> None:
        response = api_post(
            strict_deployment.base_url,
            "/download",
            content=b'{"paths": ["a"',
            headers={"content-type": "application/json"},
        )
        _error(response, 422)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "paths"),
            ({"paths": []}, "paths"),
            ({"paths": "docs/a.txt"}, "paths"),
            ({"paths": [1]}, "paths[0]"),
            ({"paths": ["docs/a.txt"], "colour": "blue"}, "colour"),
            ({"paths": ["docs/a.txt"], "compression": "brotli"}, "compression"),
        ],
    )
    def test_malformed_bodies_name_the_field(
        self, strict_deployment: Deployment, body: Any, field: str
    ) -> None:
        error = _error(_post(strict_deployment, body), 422)
        assert field in [item["field"] for item in error["errors"]]

    def test_more_paths_than_allowed_is_422(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["a", "b", "c", "d"]}), 422)
        assert error["field"] == "paths" and error["max_paths"] == 3

    @pytest.mark.parametrize(
        "path",
        ["../outside.txt", "docs/../../outside.txt", "/etc/passwd", "docs/\x00a.txt", "", "  ", "./", "/"],
    )
    def test_paths_leaving_the_root_or_empty_are_422(self, strict_deployment: Deployment, path: str) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt", path]}), 422)
        assert error["field"] == "paths[1]"

    def test_a_repeated_path_is_422(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt", "docs//a.txt"]}), 422)
        assert error["field"] == "paths[1]"

    @pytest.mark.parametrize("path", ["escape.txt", "escape-dir/outside.txt", "escape-dir"])
    def test_symlinks_out_of_the_root_are_422(self, strict_deployment: Deployment, path: str) -> None:
        error = _error(_post(strict_deployment, {"paths": [path]}), 422)
        assert error["error"] == "invalid_path"
        assert "secret" not in error["detail"]

    def test_missing_paths_are_404_listing_all_of_them(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt", "nope.txt", "docs/nope/"]}), 404)
        assert error["paths"] == ["nope.txt", "docs/nope"]

    def test_a_file_asked_for_as_a_folder_is_404(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt/"]}), 404)
        assert error["paths"] == ["docs/a.txt"]

    @pytest.mark.parametrize("expires_in", ["forever", "2 fortnights", "0", "30 days", -5, "1e9"])
    def test_bad_or_too_long_expiry_is_422(self, strict_deployment: Deployment, expires_in: Any) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt"], "expires_in": expires_in}), 422)
        assert "expires_in" in (error.get("field"), *[item["field"] for item in error.get("errors", [])])

    @pytest.mark.parametrize("name", ["../evil", "a/b", "a\\b", "..", "", "x\x00y", "n" * 300])
    def test_unsafe_archive_names_are_422(self, strict_deployment: Deployment, name: str) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt"], "name": name}), 422)
        assert error["field"] == "name"

    def test_more_files_than_allowed_is_413(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["five/"]}), 413)
        assert error["limit"] == "max_files"

    def test_more_bytes_than_allowed_is_413(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["big.bin"]}), 413)
        assert error["limit"] == "max_total_size"

    def test_a_huge_body_is_413_before_it_is_read(self, strict_deployment: Deployment) -> None:
        error = _error(_post(strict_deployment, {"paths": ["docs/a.txt"] * 2000}), 413)
        assert "body" in error["detail"]

    def test_a_huge_chunked_body_is_413(self, strict_deployment: Deployment) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"paths": ['
            for _ in range(2000):
                yield b'"docs/a.txt",'
            yield b'"docs/b.txt"]}'

        response = api_post(
            strict_deployment.base_url,
            "/download",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        _error(response, 413)

    def test_unknown_ticket_result_is_404(self, strict_deployment: Deployment) -> None:
        response = api_get(strict_deployment.base_url, "/ticket/unknown/result")
        assert _error(response, 404)["ticket_id"] == "unknown"


def test_symlink_to_a_file_inside_the_root_is_followed(strict_deployment: Deployment) -> None:
    response = request_download(strict_deployment.base_url, ["linked/"])
    assert response.status_code == 202, response.text
    status = api_get(
        strict_deployment.base_url,
        f"/ticket/{response.json()['ticket_id']}/status",
        headers={"Accept": "application/json"},
    ).json()
    assert status["file_count"] == 2


def test_a_zip_suffix_in_the_name_is_not_doubled(strict_deployment: Deployment) -> None:
    response = request_download(strict_deployment.base_url, ["docs/"], name="Ferien 2023.zip")
    assert response.status_code == 202
    status = api_get(
        strict_deployment.base_url,
        f"/ticket/{response.json()['ticket_id']}/status",
        headers={"Accept": "application/json"},
    ).json()
    assert status["name"] == "Ferien 2023"
