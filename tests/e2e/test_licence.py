"""The licence decides whether new downloads are taken, and within which limits; existing
tickets and links are served whatever its state."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from filegate.licence.document import new_key_pair
from tests.client import api_get, eventually, request_download, wait_final
from tests.conftest import Deployment, deployed
from tests.licences import licence_env
from tests.queue import queue_build
from tests.services import service_env
from tests.sources import LocalSources

YESTERDAY = date.today() - timedelta(days=1)


@contextmanager
def _licensed(redis_url: str, home: Path, database: int, **overrides: str) -> Iterator[Deployment]:
    (home / "files").mkdir(parents=True)
    env = service_env(f"{redis_url}/{database}", home, **overrides)
    with deployed(home, env, LocalSources(home / "files")) as running:
        yield running


def _one_folder(deployment: Deployment, size: int = 100) -> str:
    root = deployment.folder()
    deployment.sources.put(f"{root}/a.bin", b"a" * size)
    deployment.sources.put(f"{root}/b.bin", b"b" * size)
    return f"{root}/"


def test_a_valid_licence_is_shown_and_its_limits_apply(redis_url: str, workdir: Path) -> None:
    home = workdir / "licence-valid"
    terms = licence_env(home, max_archive_size=50_000, features=("priorities",), max_concurrent_builds=3)
    # A default split size asks nothing of the licence: requests naming none get one ZIP.
    with _licensed(redis_url, home, 30, FILEGATE_DEFAULT_SPLIT_SIZE="10KB", **terms) as deployment:
        shown = api_get(deployment.base_url, "/licence").json()
        assert shown["status"] == "valid" and shown["licensee"] == "filegate tests"
        assert shown["limits"] == {
            "max_concurrent_builds": 3,
            "max_archive_size": 50_000,
            "features": ["priorities"],
        }
        ready = httpx.get(f"{deployment.base_url}/health/ready", timeout=10).json()
        assert ready["licence"]["status"] == "valid"

        created = request_download(
            deployment.base_url, [_one_folder(deployment, 8_000)], priority="high", name="whole"
        )
        assert created.status_code == 202, created.text
        assert wait_final(deployment.base_url, created.json()["ticket_id"])["status"] == "ready"
        parts = api_get(deployment.base_url, f"/ticket/{created.json()['ticket_id']}/result").json()["parts"]
        assert [part["name"] for part in parts] == ["whole.zip"]  # 16 KB, yet not split at 10 KB

        too_big = request_download(deployment.base_url, [_one_folder(deployment, 30_000)])
        assert too_big.status_code == 403
        assert too_big.json()["max_archive_size"] == 50_000 and "licence" in too_big.json()["detail"]

        split = request_download(deployment.base_url, [_one_folder(deployment)], split_size="10MB")
        assert split.status_code == 403 and "'split'" in split.json()["detail"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("expired", f"expired on {YESTERDAY.isoformat()}"), ("tampered", "signature does not match")],
)
def test_an_expired_or_altered_licence_refuses_new_downloads(
    case: str, reason: str, redis_url: str, workdir: Path
) -> None:
    home = workdir / f"licence-{case}"
    if case == "expired":
        terms = licence_env(home, expires=YESTERDAY)
    else:
        terms = licence_env(home, public_key=new_key_pair()[1])  # verified with another key
    with _licensed(redis_url, home, 31 if case == "expired" else 32, **terms) as deployment:
        refused = request_download(deployment.base_url, [_one_folder(deployment)])
        assert refused.status_code == 403
        assert reason in refused.json()["detail"] and refused.json()["licence"] in ("expired", "invalid")

        shown = api_get(deployment.base_url, "/licence").json()
        assert shown["status"] in ("expired", "invalid") and reason in shown["reason"]
        assert "public_key" not in json.dumps(shown).lower()
        # Still ready: it serves existing tickets and links, and says why it refuses new ones.
        # (this deployment runs no cleanup worker: readiness fails for that, never for the licence)
        ready = httpx.get(f"{deployment.base_url}/health/ready", timeout=10).json()
        assert ready["failing"] == ["workers"] and reason in ready["licence"]["reason"]


def test_a_licence_expiring_while_running_keeps_existing_tickets_and_links(
    redis_url: str, workdir: Path
) -> None:
    home = workdir / "licence-lapse"
    vendor_keys = new_key_pair()
    terms = licence_env(home, key_pair=vendor_keys)
    with _licensed(redis_url, home, 33, FILEGATE_LICENCE_CHECK_INTERVAL="1", **terms) as deployment:
        created = request_download(deployment.base_url, [_one_folder(deployment)])
        ticket_id = created.json()["ticket_id"]
        assert wait_final(deployment.base_url, ticket_id)["status"] == "ready"

        # The vendor's renewal did not come: the file now holds an expired licence.
        expired = licence_env(home / "next", expires=YESTERDAY, key_pair=vendor_keys)
        Path(terms["FILEGATE_LICENCE_FILE"]).write_text(Path(expired["FILEGATE_LICENCE_FILE"]).read_text())
        assert eventually(
            lambda: request_download(deployment.base_url, [_one_folder(deployment)]).status_code == 403
        )
        assert api_get(deployment.base_url, "/licence").json()["status"] == "expired"

        assert api_get(deployment.base_url, f"/ticket/{ticket_id}/status").status_code == 200
        result = api_get(deployment.base_url, f"/ticket/{ticket_id}/result")
        assert result.status_code == 200
        assert httpx.get(result.json()["parts"][0]["url"], timeout=10).status_code == 200


def test_the_vendor_commands_make_a_licence_that_filegate_accepts(tmp_path: Path) -> None:
    filegate = str(Path(sys.executable).with_name("filegate"))
    key_file = tmp_path / "vendor.key"

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [filegate, *args], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
        )

    keygen = run("licence", "keygen", "--private-key", str(key_file))
    assert keygen.returncode == 0, keygen.stderr
    assert key_file.stat().st_mode & 0o077 == 0
    public_key = keygen.stdout.split("FILEGATE_LICENCE_PUBLIC_KEY=")[1].strip()
    assert run("licence", "keygen", "--private-key", str(key_file)).returncode != 0  # never overwrites

    issued = run(
        "licence", "issue", "--private-key", str(key_file), "--licensee", "Example Ltd",
        "--expires", "2031-12-31", "--max-concurrent-builds", "6", "--max-archive-size", "2TB",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    licence = tmp_path / "licence.txt"
    licence.write_text(issued.stdout)

    env = {
        **service_env("redis://127.0.0.1:1/0", tmp_path),
        "FILEGATE_LICENCE_FILE": str(licence),
        "FILEGATE_LICENCE_PUBLIC_KEY": public_key,
    }
    shown = run("licence", "show", env=env)
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert state["status"] == "valid" and state["licensee"] == "Example Ltd"
    assert state["limits"]["max_concurrent_builds"] == 6
    assert state["limits"]["max_archive_size"] == 2 * 1000**4

    licence.write_text(issued.stdout.replace(issued.stdout[10], "A" if issued.stdout[10] != "A" else "B", 1))
    tampered = run("licence", "show", env=env)
    assert tampered.returncode == 1 and json.loads(tampered.stdout)["status"] == "invalid"


def test_a_licence_allowing_fewer_builds_than_the_setting_admits_only_that_many(
    redis_url: str, tmp_path: Path
) -> None:
    from filegate.archive.registry import BuildRegistry
    from filegate.licence.check import LicenceCheck
    from filegate.scheduling.service import Scheduler
    from filegate.settings import Settings
    from filegate.state.scripts import SyncState

    client = redis.Redis.from_url(f"{redis_url}/57", decode_responses=True)
    client.flushdb()
    for number in range(5):
        queue_build(client, f"b{number}", number, 100)
    terms = licence_env(tmp_path, max_concurrent_builds=2)
    settings = Settings(
        licence_file=Path(terms["FILEGATE_LICENCE_FILE"]),
        licence_public_key=terms["FILEGATE_LICENCE_PUBLIC_KEY"],
        max_concurrent_builds=4,
        space_budget="1GB",
    )
    registry = BuildRegistry(SyncState(client))
    scheduler = Scheduler(registry, settings, LicenceCheck(settings))

    assert [a.build_id for a in scheduler.dispatch()] == ["b0", "b1"]
    assert scheduler.dispatch() == []  # both slots the licence allows are taken

    registry.release("b0", 0)  # a slot comes back: one more, never past the licence's two
    assert [a.build_id for a in scheduler.dispatch()] == ["b2"]
    assert client.smembers("filegate:running") == {"b1", "b2"}


def test_a_licence_without_the_priorities_feature_refuses_priority_high(
    redis_url: str, workdir: Path
) -> None:
    home = workdir / "licence-no-priorities"
    (home / "files").mkdir(parents=True)
    terms = licence_env(home, features=("split",))
    env = service_env(f"{redis_url}/58", home, **terms)
    # No worker: what is asked is only whether the request is taken.
    with deployed(home, env, LocalSources(home / "files"), worker=False) as deployment:
        high = request_download(deployment.base_url, [_one_folder(deployment)], priority="high")
        assert high.status_code == 403, high.text
        assert "'priorities'" in high.json()["detail"] and high.json()["licence"] == "valid"

        # The app may ask for high (tests.services registers it so): the licence alone refused.
        for priority in ("normal", "low"):
            taken = request_download(deployment.base_url, [_one_folder(deployment)], priority=priority)
            assert taken.status_code == 202, taken.text
        split = request_download(deployment.base_url, [_one_folder(deployment)], split_size="10MB")
        assert split.status_code == 202, split.text
