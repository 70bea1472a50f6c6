"""Session-wide real services: a private redis-server, moto's S3 server, and filegate on both stores."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

from filegate.storage.s3 import make_client
from tests.services import Service, moto_server, rabbitmq_answers, rabbitmq_vhost, redis_server, service_env
from tests.sources import LocalSources, S3Sources

S3_KEYS = {"FILEGATE_S3_ACCESS_KEY": "testing", "FILEGATE_S3_SECRET_KEY": "testing"}


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    with redis_server(workdir) as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A RabbitMQ virtual host of the tests' own, so no queue of another run is met; removed after."""
    if not rabbitmq_answers():
        if os.environ.get("CI"):
            pytest.fail("RabbitMQ does not answer on 127.0.0.1:5672; .ci/run should have started it")
        pytest.skip("RabbitMQ does not answer on 127.0.0.1:5672")
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint(workdir: Path) -> Iterator[str]:
    with moto_server(workdir) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Minio:
    return make_client(s3_endpoint, "testing", "testing", "us-east-1")


def make_bucket(client: Minio, name: str) -> str:
    if not client.bucket_exists(name):
        client.make_bucket(name)
    return name


@dataclass
class Deployment:
    """A running filegate with a way to put sources into its store."""

    service: Service
    sources: LocalSources | S3Sources

    @property
    def base_url(self) -> str:
        return self.service.base_url

    def folder(self) -> str:
        """A fresh top-level folder name, so tests sharing a store never meet."""
        return f"t-{uuid.uuid4().hex[:10]}"

    def stored_outputs(self, prefix: str) -> list[str]:
        """Keys in the output store under ``prefix/``, partial files included."""
        if isinstance(self.sources, S3Sources):
            bucket = self.service.env["FILEGATE_S3_OUTPUT_BUCKET"]
            listing = self.sources.client.list_objects(bucket, prefix=f"{prefix}/", recursive=True)
            return sorted(item.object_name or "" for item in listing)
        folder = Path(self.service.env["FILEGATE_OUTPUT_DIR"]) / prefix
        return sorted(f"{prefix}/{path.name}" for path in folder.iterdir()) if folder.is_dir() else []

    def delete_outputs(self, prefix: str) -> None:
        """Remove a build's objects behind filegate's back."""
        if isinstance(self.sources, S3Sources):
            bucket = self.service.env["FILEGATE_S3_OUTPUT_BUCKET"]
            for key in self.stored_outputs(prefix):
                self.sources.client.remove_object(bucket, key)
            return
        shutil.rmtree(Path(self.service.env["FILEGATE_OUTPUT_DIR"]) / prefix)

    def build_id(self, ticket_id: str) -> str:
        """The build a ticket holds, from Redis (the API does not show it)."""
        client = redis.Redis.from_url(self.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
        build_id = client.hget(f"filegate:ticket:{ticket_id}", "build_id")
        assert build_id, f"ticket {ticket_id} holds no build"
        return str(build_id)

    def builds_started(self, build_id: str) -> int:
        return self.service.worker_log.read_text().count(f"build {build_id} started")


def s3_settings(endpoint: str, client: Minio, source_bucket: str, output_bucket: str) -> dict[str, str]:
    """FILEGATE_* variables for the S3 store on the test server, its buckets made if missing."""
    make_bucket(client, source_bucket)
    make_bucket(client, output_bucket)
    return {
        "FILEGATE_STORAGE": "s3",
        "FILEGATE_S3_ENDPOINT": endpoint,
        "FILEGATE_S3_SOURCE_BUCKET": source_bucket,
        "FILEGATE_S3_OUTPUT_BUCKET": output_bucket,
        **S3_KEYS,
    }


@contextlib.contextmanager
def deployed(
    home: Path,
    env: dict[str, str],
    sources: LocalSources | S3Sources,
    *,
    worker: bool = True,
    cleanup: bool = False,
) -> Iterator[Deployment]:
    """A running filegate: the API, a build worker unless told not to, and with ``cleanup`` a
    cleanup worker and beat; all stopped on leaving."""
    service = Service(env, home)
    try:
        if worker:
            service.start_worker()
        if cleanup:
            service.start_cleanup_worker()
            service.start_beat()
        service.start_api()
        yield Deployment(service, sources)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def local_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    home = workdir / "local"
    (home / "files").mkdir(parents=True)
    with deployed(home, service_env(f"{redis_url}/1", home), LocalSources(home / "files")) as running:
        yield running


@pytest.fixture(scope="session")
def s3_deployment(redis_url: str, s3_endpoint: str, s3_client: Minio, workdir: Path) -> Iterator[Deployment]:
    home = workdir / "s3"
    home.mkdir()
    settings = s3_settings(s3_endpoint, s3_client, "sources", "outputs")
    # Versioned, as production buckets usually are: pins then name exact versions.
    s3_client.set_bucket_versioning("sources", VersioningConfig(ENABLED))
    env = service_env(f"{redis_url}/2", home, FILEGATE_S3_PART_SIZE="5MiB", **settings)
    with deployed(home, env, S3Sources(s3_client, "sources")) as running:
        yield running


@pytest.fixture(params=["local", "s3"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """filegate on the local store, then on S3: each test runs against both."""
    fixture: Deployment = request.getfixturevalue(f"{request.param}_deployment")
    return fixture
