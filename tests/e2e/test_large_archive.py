"""An archive past 4 GiB: ZIP64 records appear, and the usual tools still read it."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.client import api_get, build_folder, request_download, wait_final
from tests.conftest import Deployment

BIG = 4 * 1024**3 + 300 * 1024**2


def _run(*args: str) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 0, f"{args[0]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.slow
def test_an_entry_over_4_gib_is_zip64_and_readable(local_deployment: Deployment) -> None:
    root = local_deployment.folder()
    sources = local_deployment.sources
    assert isinstance(sources.root, Path)
    sources.put(f"{root}/small.txt", b"small and plain")
    big = sources.root / root / "disk.img"
    with big.open("wb") as sparse:  # sparse: no 4 GiB of disk for the source
        sparse.truncate(BIG)
    output = Path(local_deployment.service.env["FILEGATE_OUTPUT_DIR"])
    ticket_id = folder = ""
    try:
        created = request_download(
            local_deployment.base_url, [f"{root}/"], compression="store", expires_in="10 min"
        )
        ticket_id = created.json()["ticket_id"]
        state = wait_final(local_deployment.base_url, ticket_id, timeout=600)
        assert state["status"] == "ready", state
        result = api_get(local_deployment.base_url, f"/ticket/{state['ticket_id']}/result").json()
        [part] = result["parts"]
        folder = build_folder(local_deployment.base_url, ticket_id)
        archive = output / folder / part["name"]
        assert archive.stat().st_size == part["size"] > BIG

        with zipfile.ZipFile(archive) as opened:
            infos = {info.filename: info for info in opened.infolist()}
            assert infos[f"{root}/disk.img"].file_size == BIG
            assert opened.read(f"{root}/small.txt") == b"small and plain"
        _run("unzip", "-tqq", str(archive))
        assert "Everything is Ok" in _run("7z", "t", str(archive))
        assert f"{root}/disk.img" in _run("bsdtar", "-tf", str(archive))
    finally:
        big.unlink()
        if ticket_id and folder:
            shutil.rmtree(output / folder, ignore_errors=True)
