"""Archive options end to end: split parts, compression, the one-file fast path, names, manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import httpx

from tests.client import api_get, download_ready, request_download
from tests.conftest import Deployment, deployed
from tests.readers import check_with_all_readers
from tests.services import service_env
from tests.sources import LocalSources
from tests.sse import read_all


def _entries(blob: bytes) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_split_parts_are_standalone_zips_within_the_split_size(
    deployment: Deployment, tmp_path: Path
) -> None:
    root = deployment.folder()
    files = {f"{root}/album/{n:02d}.jpg": os.urandom(300_000) for n in range(10)}
    for path, data in files.items():
        deployment.sources.put(path, data)

    body, blobs = download_ready(deployment.base_url, [f"{root}/album/"], name="trip", split_size="1MB")

    names = [part["name"] for part in body["parts"]]
    assert names == [f"trip-{n}-of-{len(names)}.zip" for n in range(1, len(names) + 1)]
    assert len(names) == 4
    seen: dict[str, bytes] = {}
    for number, (part, blob) in enumerate(zip(body["parts"], blobs, strict=True), start=1):
        assert part["size"] == len(blob) <= 1_000_000
        assert part["sha256"] == hashlib.sha256(blob).hexdigest()
        assert part["oversized"] is False
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            contents = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
        path = tmp_path / f"part-{number}.zip"
        path.write_bytes(blob)
        expected = {**contents, **({"album/": b""} if number == 1 else {})}
        check_with_all_readers(path, expected)
        seen.update(contents)
    assert seen == {f"album/{path.rsplit('/', 1)[1]}": data for path, data in files.items()}
    progress = [m.json() for m in read_all(deployment.base_url, body["ticket_id"]) if m.event == "progress"]
    assert progress[0]["parts_total"] == 4 and progress[0]["bytes_done"] == 0


def test_a_file_larger_than_the_split_size_gets_its_own_part(deployment: Deployment) -> None:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a.jpg", os.urandom(100_000))
    deployment.sources.put(f"{root}/big.mp4", os.urandom(1_500_000))
    deployment.sources.put(f"{root}/z.jpg", os.urandom(100_000))

    body, blobs = download_ready(deployment.base_url, [f"{root}/"], split_size="1MB")

    assert [part["oversized"] for part in body["parts"]] == [False, True, False]
    assert [sorted(_entries(blob)) for blob in blobs] == [
        [f"{root}/", f"{root}/a.jpg"],
        [f"{root}/big.mp4"],
        [f"{root}/z.jpg"],
    ]


def test_split_size_below_the_minimum_or_malformed_is_422(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    local_deployment.sources.put(f"{root}/a.txt", b"a")
    for split_size in ("10", "lots", "-1MB"):
        response = request_download(local_deployment.base_url, [f"{root}/"], split_size=split_size)
        assert response.status_code == 422, split_size
        assert response.json()["field"] == "split_size"


def test_auto_compression_deflates_only_what_shrinks(deployment: Deployment) -> None:
    root = deployment.folder()
    sources = {
        "notes.txt": b"compressible text\n" * 10_000,
        "noise.dat": os.urandom(200_000),
        "photo.jpg": b"\xff\xd8" + b"jpeg-ish but compressible " * 5_000,
        "table.csv": b"a,b,c\n" * 30_000,
    }
    for name, data in sources.items():
        deployment.sources.put(f"{root}/{name}", data)

    _, [auto] = download_ready(deployment.base_url, [f"{root}/"])
    _, [stored] = download_ready(deployment.base_url, [f"{root}/"], compression="store")
    _, [deflated] = download_ready(deployment.base_url, [f"{root}/"], compression="deflate")

    methods = {name.rsplit("/", 1)[-1]: info.compress_type for name, info in _entries(auto).items()}
    assert methods["notes.txt"] == methods["table.csv"] == zipfile.ZIP_DEFLATED
    assert methods["noise.dat"] == methods["photo.jpg"] == zipfile.ZIP_STORED
    assert {info.compress_type for info in _entries(stored).values()} == {zipfile.ZIP_STORED}
    files = [info for info in _entries(deflated).values() if not info.is_dir()]
    assert {info.compress_type for info in files} == {zipfile.ZIP_DEFLATED}


def test_one_file_is_ready_at_once_with_a_link_to_itself(deployment: Deployment) -> None:
    root = deployment.folder()
    data = b"%PDF-1.7 " + os.urandom(20_000)
    deployment.sources.put(f"{root}/reports/Bericht für 2023.pdf", data)

    created = request_download(deployment.base_url, [f"{root}/reports/Bericht für 2023.pdf"])

    assert created.status_code == 202
    assert created.json()["status"] == "ready"
    result = api_get(deployment.base_url, f"/ticket/{created.json()['ticket_id']}/result").json()
    [part] = result["parts"]
    assert part["name"] == "Bericht für 2023.pdf" and part["size"] == len(data)
    download = httpx.get(part["url"])
    assert download.status_code == 200 and download.content == data
    assert "Bericht%20f%C3%BCr%202023.pdf" in download.headers["content-disposition"]
    resumed = httpx.get(part["url"], headers={"Range": "bytes=1000-"})
    assert resumed.status_code == 206 and resumed.content == data[1000:]
    past_the_end = httpx.get(part["url"], headers={"Range": f"bytes={len(data)}-"})
    assert past_the_end.status_code == 416
    statuses = [m.json()["status"] for m in read_all(deployment.base_url, result["ticket_id"])]
    assert statuses == ["ready"]


def test_the_one_file_link_serves_the_requested_version_or_nothing(deployment: Deployment) -> None:
    root = deployment.folder()
    deployment.sources.put(f"{root}/doc.txt", b"version one")
    created = request_download(deployment.base_url, [f"{root}/doc.txt"])
    result = api_get(deployment.base_url, f"/ticket/{created.json()['ticket_id']}/result").json()

    deployment.sources.put(f"{root}/doc.txt", b"version two, longer")
    download = httpx.get(result["parts"][0]["url"])

    if isinstance(deployment.sources, LocalSources):
        # A local file keeps no old versions: the link refuses rather than serve other bytes.
        assert download.status_code == 410
    else:
        # The S3 bucket is versioned: the link names the version that was requested.
        assert download.status_code == 200 and download.content == b"version one"


def test_names_windows_cannot_hold_are_made_safe_and_unique(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    for name in ("a:b.txt", "CON.txt", "Report.pdf", "report.pdf", "trailing. "):
        local_deployment.sources.put(f"{root}/{name}", name.encode())

    _, [blob] = download_ready(local_deployment.base_url, [f"{root}/"])

    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        contents = {info.filename.split("/", 1)[1]: archive.read(info) for info in archive.infolist()}
    assert contents == {
        "": b"",
        "a_b.txt": b"a:b.txt",
        "CON_.txt": b"CON.txt",
        "Report.pdf": b"Report.pdf",
        "report (2).pdf": b"report.pdf",
        "trailing__": b"trailing. ",
    }


def test_the_manifest_lists_parts_and_entries_with_their_versions(deployment: Deployment) -> None:
    root = deployment.folder()
    deployment.sources.put(f"{root}/one.jpg", os.urandom(600_000))
    deployment.sources.put(f"{root}/two.jpg", os.urandom(600_000))

    body, blobs = download_ready(deployment.base_url, [f"{root}/"], name="set", split_size="1MB")

    manifest_link = body["manifest"]
    assert manifest_link["name"] == "set.manifest.json"
    response = httpx.get(manifest_link["url"])
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == manifest_link["sha256"]
    document = json.loads(response.content)
    assert [part["sha256"] for part in document["parts"]] == [hashlib.sha256(b).hexdigest() for b in blobs]
    entries = [entry for part in document["parts"] for entry in part["entries"]]
    assert [entry["path"] for entry in entries] == [f"{root}/", f"{root}/one.jpg", f"{root}/two.jpg"]
    assert all(entry["version"] for entry in entries[1:])
    assert entries[1]["size"] == 600_000


def test_a_request_naming_no_split_size_is_split_at_the_default(redis_url: str, workdir: Path) -> None:
    home = workdir / "default-split"
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/60", home, FILEGATE_DEFAULT_SPLIT_SIZE="250KB")
    with deployed(home, env, LocalSources(home / "files")) as deployment:
        root = deployment.folder()
        files = {f"{root}/{n}.jpg": os.urandom(100_000) for n in range(5)}
        for path, data in files.items():
            deployment.sources.put(path, data)

        body, blobs = download_ready(deployment.base_url, [f"{root}/"], name="parts")

        # Two 100 KB files fit in 250 KB with their headers, three do not: 2 + 2 + 1.
        assert [part["name"] for part in body["parts"]] == [f"parts-{n}-of-3.zip" for n in (1, 2, 3)]
        assert all(len(blob) <= 250_000 for blob in blobs)
        seen = {name for blob in blobs for name in _entries(blob) if not name.endswith("/")}
        assert seen == set(files)

        # A request naming its own split size is split at that one instead.
        body, _ = download_ready(deployment.base_url, [f"{root}/"], name="whole", split_size="1MB")
        assert [part["name"] for part in body["parts"]] == ["whole.zip"]
