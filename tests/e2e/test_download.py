"""The whole path: sources in a store → POST /download → a real worker → a ZIP over HTTP."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from tests.client import api_get, download_ready, request_download, wait_final
from tests.conftest import Deployment


def _check_with_tools(blob: bytes, tmp_path: Path) -> list[str]:
    archive = tmp_path / "archive.zip"
    archive.write_bytes(blob)
    unzip = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True)
    assert unzip.returncode == 0, unzip.stdout + unzip.stderr
    bsdtar = subprocess.run(["bsdtar", "-tf", str(archive)], capture_output=True, text=True)
    assert bsdtar.returncode == 0, bsdtar.stderr
    return bsdtar.stdout.splitlines()


def _contents(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_folder_and_file_arrive_with_their_bytes_and_names(deployment: Deployment, tmp_path: Path) -> None:
    root = deployment.folder()
    sources = deployment.sources
    files = {
        f"{root}/photos/2023/beach.jpg": os.urandom(300_000),
        f"{root}/photos/2023/notes – été.txt": "Grüße, 東京\n".encode() * 5000,
        f"{root}/photos/zero-bytes": b"",
        f"{root}/photos/deep/er/still/deeper.csv": b"a,b\n1,2\n" * 1000,
        f"{root}/reports/2023.pdf": b"%PDF-1.4 " + os.urandom(50_000),
    }
    for path, data in files.items():
        sources.put(path, data)
    sources.mkdir(f"{root}/photos/empty")

    body, [blob] = download_ready(
        deployment.base_url,
        [f"{root}/reports/2023.pdf", f"{root}/photos/"],
        name="holiday",
        expires_in="2 days",
    )

    [part] = body["parts"]
    assert part["name"] == "holiday.zip"
    assert part["size"] == len(blob)
    assert part["sha256"] == hashlib.sha256(blob).hexdigest()
    listed = _check_with_tools(blob, tmp_path)
    contents = _contents(blob)
    expected = {
        "2023.pdf": files[f"{root}/reports/2023.pdf"],
        "photos/2023/beach.jpg": files[f"{root}/photos/2023/beach.jpg"],
        "photos/2023/notes – été.txt": files[f"{root}/photos/2023/notes – été.txt"],
        "photos/zero-bytes": b"",
        "photos/deep/er/still/deeper.csv": files[f"{root}/photos/deep/er/still/deeper.csv"],
    }
    for name, data in expected.items():
        assert contents[name] == data, name
    assert "photos/empty/" in contents
    assert {name for name in contents if not name.endswith("/")} == set(expected)
    assert set(listed) == set(contents)


def test_compressible_files_are_deflated_and_compressed_formats_stored(
    deployment: Deployment, tmp_path: Path
) -> None:
    root = deployment.folder()
    deployment.sources.put(f"{root}/log.txt", b"the same line again\n" * 20_000)
    deployment.sources.put(f"{root}/photo.jpg", os.urandom(100_000))

    _, [blob] = download_ready(deployment.base_url, [f"{root}/"])

    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        text = archive.getinfo(f"{root}/log.txt")
        photo = archive.getinfo(f"{root}/photo.jpg")
    assert text.compress_type == zipfile.ZIP_DEFLATED
    assert text.compress_size < text.file_size // 10
    assert photo.compress_type == zipfile.ZIP_STORED


def test_same_names_from_different_folders_get_a_suffix(deployment: Deployment) -> None:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a/report.pdf", b"first")
    deployment.sources.put(f"{root}/b/report.pdf", b"second")
    deployment.sources.put(f"{root}/c/report.pdf/inner.txt", b"a folder named like a file")

    _, [blob] = download_ready(
        deployment.base_url, [f"{root}/a/report.pdf", f"{root}/b/report.pdf", f"{root}/c/report.pdf"]
    )

    contents = _contents(blob)
    assert contents["report.pdf"] == b"first"
    assert contents["report (2).pdf"] == b"second"
    assert contents["report (3).pdf/inner.txt"] == b"a folder named like a file"


def test_entry_times_come_from_the_sources(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    moment = datetime(2021, 3, 4, 5, 6, 8, tzinfo=UTC)
    local_deployment.sources.put(f"{root}/old.txt", b"old", modified=moment)

    _, [blob] = download_ready(local_deployment.base_url, [f"{root}/old.txt"], archive="zip")

    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.getinfo("old.txt").date_time == (2021, 3, 4, 5, 6, 8)


def test_a_source_deleted_before_the_build_fails_the_ticket_with_its_name(
    local_deployment: Deployment,
) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/keep.txt", b"keep")
    local_deployment.sources.put(f"{root}/vanish.txt", b"vanish")
    local_deployment.service.stop_worker()
    try:
        created = request_download(local_deployment.base_url, [f"{root}/"])
        assert created.status_code == 202
        local_deployment.sources.delete(f"{root}/vanish.txt")
    finally:
        local_deployment.service.start_worker()

    state = wait_final(local_deployment.base_url, created.json()["ticket_id"])

    assert state["status"] == "failed"
    assert f"{root}/vanish.txt" in state["error"]
    result = api_get(local_deployment.base_url, f"/ticket/{state['ticket_id']}/result")
    assert result.status_code == 409
    assert result.json()["state"]["status"] == "failed"
    # The build ran (it opened its part and wrote keep.txt before meeting vanish.txt); its
    # folder, named by the build, holds nothing: no part, no partial file, no manifest.
    build_id = local_deployment.build_id(state["ticket_id"])
    assert local_deployment.builds_started(build_id) == 1
    assert local_deployment.stored_outputs(build_id) == []
