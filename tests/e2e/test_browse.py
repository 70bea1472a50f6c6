"""GET /browse on both stores: pages in order without repeats or gaps, the limit and the cursor,
scopes (the way to them and nothing beside it), and every bad path answered without a 500."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from filegate.browse.cursor import encode_cursor
from filegate.storage.base import FolderPosition, ListingPhase
from tests.client import api_get
from tests.conftest import Deployment
from tests.services import ADMIN_TOKEN
from tests.sources import LocalSources, S3Sources

BIG_FOLDERS = 500
BIG_FILES = 2000


def browse(deployment: Deployment, path: str | None = None, **params: Any) -> httpx.Response:
    query = {key: value for key, value in {"path": path, **params}.items() if value is not None}
    return api_get(deployment.base_url, "/browse", params=query)


def listed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(get: Callable[[dict[str, Any]], httpx.Response], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every entry, following next_cursor from the first page; and how many pages it took."""
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    pages = 0
    while True:
        body = listed(get(params))
        pages += 1
        assert len(body["entries"]) <= limit
        entries += body["entries"]
        if body["next_cursor"] is None:
            return entries, pages
        params = {"limit": limit, "cursor": body["next_cursor"]}
        assert pages < 100, "the pages never end"


def walk_folder(deployment: Deployment, path: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    return walk(lambda params: browse(deployment, path, **params), limit)


def in_listing_order(folders: list[str], files: list[str]) -> list[str]:
    """Folders first, by name with a trailing '/' (S3's key order), then files by name."""
    return sorted(folders, key=lambda name: f"{name}/") + sorted(files)


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == code and body["detail"], body
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [body.get("field", ""), *[item["field"] for item in body.get("errors", [])]]


def put_all(deployment: Deployment, files: dict[str, bytes], folders: list[str] | None = None) -> None:
    """Files and empty folders into the store; over S3 from a few threads (a PUT each)."""
    sources = deployment.sources
    folders = folders or []
    if isinstance(sources, LocalSources):
        for folder in folders:
            sources.mkdir(folder)
        for path, data in files.items():
            sources.put(path, data)
        return
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sources.mkdir, folders))
        list(pool.map(lambda item: sources.put(*item), files.items()))


# A big folder: 500 folders and 2,000 files, whose names interleave in S3's key order
# ("n0005.txt" < "n0005/"), so that folders first is not S3's own order.

_BIG: dict[str, tuple[str, list[str]]] = {}


def big_folder(deployment: Deployment) -> tuple[str, list[str]]:
    """The big folder's path and its names in listing order; made once per store."""
    kind = deployment.sources.kind
    if kind not in _BIG:
        top = deployment.folder()
        numbers = range(BIG_FOLDERS + BIG_FILES)
        folders = [f"n{number:04d}" for number in numbers if number % 5 == 0]
        files = [f"n{number:04d}.txt" for number in numbers if number % 5 != 0]
        # Half the folders are empty (an S3 folder marker), half hold a file.
        empty = [f"{top}/{name}" for name in folders[::2]]
        holding = {f"{top}/{name}/inner.txt": b"i" for name in folders[1::2]}
        put_all(deployment, {**holding, **{f"{top}/{name}": b"f" for name in files}}, empty)
        _BIG[kind] = (top, in_listing_order(folders, files))
    return _BIG[kind]


@pytest.mark.parametrize("limit", [1000, 500, 333])
def test_pages_hold_every_entry_once_folders_first(deployment: Deployment, limit: int) -> None:
    top, expected = big_folder(deployment)
    entries, pages = walk_folder(deployment, top, limit)
    assert [entry["name"] for entry in entries] == expected
    assert pages == math.ceil(len(expected) / limit)
    assert all(entry["path"] == f"{top}/{entry['name']}" for entry in entries)
    assert [entry["type"] for entry in entries] == ["folder"] * BIG_FOLDERS + ["file"] * BIG_FILES


def test_a_limit_above_1000_is_lowered_to_1000(deployment: Deployment) -> None:
    top, expected = big_folder(deployment)
    for limit in ("1001", "5000", str(10**30)):
        body = listed(browse(deployment, top, limit=limit))
        assert [entry["name"] for entry in body["entries"]] == expected[:1000]
        assert body["next_cursor"] is not None


def test_the_default_page_is_100_entries(deployment: Deployment) -> None:
    top, expected = big_folder(deployment)
    body = listed(browse(deployment, top))
    assert [entry["name"] for entry in body["entries"]] == expected[:100]


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "1.5", ""])
def test_a_limit_below_one_or_not_a_whole_number_is_422(deployment: Deployment, limit: str) -> None:
    body = error(browse(deployment, "", limit=limit), 422, "invalid_request")
    assert "limit" in fields(body)


def test_entries_describe_files_and_folders(deployment: Deployment) -> None:
    top = deployment.folder()
    before = datetime.now(UTC) - timedelta(minutes=5)
    put_all(deployment, {f"{top}/report.pdf": b"%PDF" * 1000, f"{top}/sub/inner.txt": b"x"})
    body = listed(browse(deployment, f"{top}/"))
    assert body["path"] == top and body["next_cursor"] is None
    folder, file = body["entries"]
    assert folder["name"] == "sub" and folder["path"] == f"{top}/sub" and folder["type"] == "folder"
    assert folder["size"] is None and folder["version"] is None
    if deployment.sources.kind == "s3":
        assert folder["modified"] is None  # S3 keeps no date for a prefix
    else:
        assert datetime.fromisoformat(folder["modified"]) > before
    assert file["name"] == "report.pdf" and file["path"] == f"{top}/report.pdf" and file["type"] == "file"
    assert file["size"] == 4000 and file["version"]
    assert before < datetime.fromisoformat(file["modified"]) < datetime.now(UTC) + timedelta(minutes=5)


def test_names_sort_folders_first_and_nothing_is_hidden(deployment: Deployment) -> None:
    top = deployment.folder()
    folders = ["a", "a-b", "a.b", "Z", "ünï"]
    files = ["a0", "a-c", ".hidden", "x.partial", "é", "B"]
    put_all(deployment, {f"{top}/{name}": b"." for name in files}, [f"{top}/{name}" for name in folders])
    entries, _ = walk_folder(deployment, top, 4)
    assert [entry["name"] for entry in entries] == in_listing_order(folders, files)


def test_entries_added_or_removed_between_pages_neither_repeat_nor_go_missing(
    deployment: Deployment,
) -> None:
    top = deployment.folder()
    folders = [f"f{number:02d}" for number in range(10)]
    files = [f"g{number:02d}" for number in range(20)]
    put_all(deployment, {f"{top}/{name}": b"." for name in files}, [f"{top}/{name}" for name in folders])
    first = listed(browse(deployment, top, limit=6))
    assert [entry["name"] for entry in first["entries"]] == folders[:6]
    # Before the cursor, after it, and among entries listed already or not yet.
    put_all(deployment, {f"{top}/g05a": b".", f"{top}/a-new": b"."}, [f"{top}/f02a", f"{top}/f07a"])
    for name in ("g01", "g12"):
        deployment.sources.delete(f"{top}/{name}")
    rest: list[dict[str, Any]] = []
    cursor = first["next_cursor"]
    while cursor is not None:
        body = listed(browse(deployment, top, limit=6, cursor=cursor))
        rest += body["entries"]
        cursor = body["next_cursor"]
    names = [entry["name"] for entry in first["entries"] + rest]
    assert len(names) == len(set(names)), "an entry came twice"
    throughout = [name for name in in_listing_order(folders, files) if name not in ("g01", "g12")]
    assert [name for name in names if name in throughout] == throughout
    assert "f07a" in names and "g05a" in names  # added past the cursor: listed in their place
    assert "g12" not in names


def test_cursor_walks_the_root_too(deployment: Deployment) -> None:
    entries, _ = walk(lambda params: browse(deployment, **params), 1000)
    top, _ = big_folder(deployment)
    assert {"name": top, "path": top, "type": "folder"}.items() <= next(
        entry for entry in entries if entry["name"] == top
    ).items()
    assert listed(browse(deployment, "."))["path"] == "" == listed(browse(deployment, "./"))["path"]


def test_bad_cursors_are_422_naming_the_cursor(deployment: Deployment) -> None:
    top, _ = big_folder(deployment)
    other = listed(browse(deployment, "", limit=1))["next_cursor"]
    forged = [
        encode_cursor(top, FolderPosition(ListingPhase.FOLDERS, "a/b")),
        encode_cursor(top, FolderPosition(ListingPhase.FOLDERS, "")),
        encode_cursor(top, FolderPosition(ListingPhase.FILES, "x" * 1100)),
    ]
    for cursor in ["!!!", "abc", "a", "%FF", "ÿ", "A" * 40, other, "x" * 5000, *forged]:
        body = error(browse(deployment, top, cursor=cursor), 422, "invalid_request")
        assert "cursor" in fields(body), cursor


@pytest.fixture
def bad_path_sources(deployment: Deployment) -> str:
    top = deployment.folder()
    put_all(deployment, {f"{top}/file.txt": b"x", f"{top}/sub/inner.txt": b"y"})
    return top


@pytest.mark.parametrize(
    "path", ["/abs", "/", "../x", "{top}/../../x", "{top}/a\x00b", "  ", "{top}/sub/..", "//"]
)
def test_paths_leaving_the_root_or_empty_are_422(
    deployment: Deployment, bad_path_sources: str, path: str
) -> None:
    body = error(browse(deployment, path.format(top=bad_path_sources)), 422, "invalid_request")
    assert body["field"] == "path"


def test_a_file_is_422_and_a_missing_folder_404_naming_it(
    deployment: Deployment, bad_path_sources: str
) -> None:
    top = bad_path_sources
    body = error(browse(deployment, f"{top}/file.txt"), 422, "invalid_request")
    assert body["paths"] == [f"{top}/file.txt"] and body["field"] == "path"
    assert "is a file, not a folder" in body["detail"]
    for missing in (f"{top}/nope", f"{top}/file.txt/below", f"{top}/{'a' * 200}"):
        body = error(browse(deployment, missing), 404, "not_found")
        assert body["paths"] == [missing] and body["field"] == "path"
    # Longer than any the store can hold: malformed, refused before it is looked up.
    body = error(browse(deployment, f"{top}/{'b' * 5000}"), 422, "invalid_request")
    assert body["field"] == "path" and body["max_bytes"] in (1024, 4095)


def test_bytes_that_are_not_utf8_find_no_folder(deployment: Deployment, bad_path_sources: str) -> None:
    response = api_get(deployment.base_url, f"/browse?path={bad_path_sources}/%FF%FE")
    assert error(response, 404, "not_found")["paths"] == [f"{bad_path_sources}/\ufffd\ufffd"]


def test_without_credentials_is_401(deployment: Deployment) -> None:
    response = httpx.get(f"{deployment.base_url}/browse", timeout=10)
    error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    response = httpx.get(
        f"{deployment.base_url}/browse", headers={"Authorization": "Bearer fgk_nope"}, timeout=10
    )
    error(response, 401, "unauthorized")


def test_the_openapi_document_shows_the_listing(deployment: Deployment) -> None:
    document = httpx.get(f"{deployment.base_url}/openapi.json", timeout=10).json()
    operation = document["paths"]["/browse"]["get"]
    assert operation["summary"] and operation["description"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/FolderListing")
    size = document["components"]["schemas"]["BrowseEntry"]["properties"]["size"]
    assert "not computed" in size["description"]


# Scopes


def register_app(deployment: Deployment, scopes: list[str]) -> str:
    """A new app's API key, registered by the admin with these scopes."""
    created = httpx.post(
        f"{deployment.base_url}/apps",
        json={"name": f"browse-{uuid.uuid4().hex[:8]}", "scopes": scopes, "max_priority": "normal"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["api_key"]
    return key


def test_a_scoped_app_sees_the_way_to_its_scopes_and_nothing_beside(deployment: Deployment) -> None:
    top = deployment.folder()
    put_all(
        deployment,
        {
            f"{top}/photos/a.jpg": b"a",
            f"{top}/photos-2/b.jpg": b"b",
            f"{top}/other/c.txt": b"c",
            f"{top}/readme.txt": b"r",
            f"{top}/notes.txt": b"n",
            f"{top}/deep/er/est/f.txt": b"f",
            f"{top}/deep/side/g.txt": b"g",
            f"{top}/deep/h.txt": b"h",
        },
    )
    scopes = [f"{top}/photos", f"{top}/readme.txt", f"{top}/deep/er/est", f"{top}/missing/deeper"]
    key = register_app(deployment, scopes)

    def get(path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{deployment.base_url}/browse",
            params={"path": path, **params},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    def names(path: str) -> list[tuple[str, str]]:
        body = listed(get(path))
        assert body["path"] == path.strip("/")
        return [(entry["name"], entry["type"]) for entry in body["entries"]]

    assert names("") == [(top, "folder")]
    assert names(top) == [("deep", "folder"), ("photos", "folder"), ("readme.txt", "file")]
    assert names(f"{top}/photos/") == [("a.jpg", "file")]
    assert names(f"{top}/deep") == [("er", "folder")]
    assert names(f"{top}/deep/er") == [("est", "folder")]
    assert names(f"{top}/missing") == []  # leads to a scope where nothing is (yet)
    entries, pages = walk(lambda params: get(top, **params), 1)
    assert [entry["name"] for entry in entries] == ["deep", "photos", "readme.txt"] and pages == 3
    readme = entries[2]
    assert readme["path"] == f"{top}/readme.txt" and readme["size"] == 1 and readme["version"]
    for outside in (f"{top}/other", f"{top}/photos-2", f"{top}/notes.txt", f"{top}/deep/side", "elsewhere"):
        body = error(get(outside), 403, "forbidden")
        assert body == {
            "error": "forbidden",
            "detail": "these paths are outside what you may read",
            "field": "path",
            "paths": [outside],
        }


# One store only


def test_local_symlinks_inside_the_root_list_as_files_and_others_not_at_all(
    local_deployment: Deployment,
) -> None:
    sources = local_deployment.sources
    assert isinstance(sources, LocalSources)
    top = local_deployment.folder()
    sources.put(f"{top}/real.txt", b"real")
    sources.put(f"{top}/sub/inner.txt", b"inner")
    outside = sources.root.parent / f"outside-{top}"
    (outside / "secret").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"secret")
    links = {
        "to-file": sources.root / top / "real.txt",
        "to-folder": sources.root / top / "sub",
        "out-file": outside / "secret.txt",
        "out-folder": outside / "secret",
        "dangling": sources.root / top / "nothing",
    }
    for name, target in links.items():
        os.symlink(target, sources.root / top / name)
    os.mkfifo(sources.root / top / "fifo")
    body = listed(browse(local_deployment, top))
    assert [(entry["name"], entry["type"]) for entry in body["entries"]] == [
        ("sub", "folder"),
        ("real.txt", "file"),
        ("to-file", "file"),
    ]
    assert body["entries"][2]["size"] == 4
    for path in (f"{top}/out-folder", f"{top}/out-file"):
        body = error(browse(local_deployment, path), 422, "invalid_path")
        assert "secret" not in body["detail"] and body["field"] == "path"


def test_s3_folder_markers_are_folders_not_files(s3_deployment: Deployment) -> None:
    sources = s3_deployment.sources
    assert isinstance(sources, S3Sources)
    top = s3_deployment.folder()
    sources.mkdir(top)  # the folder's own marker
    sources.mkdir(f"{top}/empty")
    sources.put(f"{top}/file", b"x")
    sources.put(f"{top}//odd", b"x")  # a prefix "top//": an empty name no path can ask for
    body = listed(browse(s3_deployment, top))
    assert [(entry["name"], entry["type"]) for entry in body["entries"]] == [
        ("empty", "folder"),
        ("file", "file"),
    ]
    assert listed(browse(s3_deployment, f"{top}/empty")) == {
        "path": f"{top}/empty",
        "entries": [],
        "next_cursor": None,
    }
