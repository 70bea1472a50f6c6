"""Server-side copy through the whole service on S3: the second build of a large file, its CRC-32
known from the first, has the store copy it; the archive reads back right and its SHA-256 is the
stored part's."""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

from tests.client import download_ready
from tests.conftest import deployed, s3_settings
from tests.readers import check_java_stream, check_zipfile
from tests.services import service_env
from tests.sources import S3Sources

pytestmark = pytest.mark.s3

MIB = 1024 * 1024


def test_a_large_file_built_again_is_copied_by_the_store(
    redis_url: str, s3_endpoint: str, s3_client: Minio, workdir: Path, tmp_path: Path
) -> None:
    home = workdir / "server-copy"
    home.mkdir()
    tag = uuid.uuid4().hex[:8]
    settings = s3_settings(s3_endpoint, s3_client, f"copy-e2e-{tag}", f"copy-e2e-out-{tag}")
    s3_client.set_bucket_versioning(f"copy-e2e-{tag}", VersioningConfig(ENABLED))
    env = service_env(
        f"{redis_url}/52",
        home,
        FILEGATE_S3_PART_SIZE="5MiB",
        FILEGATE_S3_SERVER_COPY_MIN_SIZE="10MiB",
        **settings,
    )
    with deployed(home, env, S3Sources(s3_client, f"copy-e2e-{tag}")) as deployment:
        root = deployment.folder()
        data = os.urandom(13 * MIB + 3)
        deployment.sources.put(f"{root}/film.bin", data)

        blobs = [
            download_ready(deployment.base_url, [f"{root}/"], name=n, compression="store")[1] for n in "ab"
        ]
        log = deployment.service.worker_log.read_text()

    methods = []
    for name, [blob] in zip("ab", blobs, strict=True):
        path = tmp_path / f"{name}.zip"
        path.write_bytes(blob)  # download_ready checked it against the SHA-256 the result lists
        check_zipfile(path, {f"{root}/": b"", f"{root}/film.bin": data})
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            methods.append(archive.getinfo(f"{root}/film.bin").compress_type)
    # The first streamed it (no CRC-32 known yet); the second stored it, copied by the store.
    assert methods == [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]
    check_java_stream(tmp_path / "b.zip", {f"{root}/": b"", f"{root}/film.bin": data})
    assert "copies parts itself" in log
