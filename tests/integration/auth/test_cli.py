"""The development sign-in `make run` prints: kept across restarts, made anew when Redis forgot it."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import redis

from filegate.auth.cli import dev_api_key, dev_login
from filegate.settings import Settings
from tests.conftest import deployed
from tests.services import service_env
from tests.sources import LocalSources


def test_the_development_login_is_kept_and_signs_in(redis_url: str, tmp_path: Path) -> None:
    url = f"{redis_url}/46"
    redis.Redis.from_url(url).flushdb()
    settings = Settings(redis_url=url)
    key = dev_api_key(settings, tmp_path / "dev-api-key")
    login_file = tmp_path / "dev-login"

    username, password = dev_login(settings, key, login_file)
    assert (username, password) == dev_login(settings, key, login_file)  # a restart keeps it
    assert login_file.read_text() == f"{username} {password}\n"
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600

    (tmp_path / "files").mkdir()
    env = service_env(url, tmp_path)
    with deployed(tmp_path, env, LocalSources(tmp_path / "files"), worker=False) as running:
        signed_in = httpx.post(
            f"{running.base_url}/auth/login", json={"username": username, "password": password}
        )
        assert signed_in.status_code == 200, signed_in.text

    redis.Redis.from_url(url).flushdb()  # Redis lost everything: a new app, a new login
    new_key = dev_api_key(settings, tmp_path / "dev-api-key")
    assert new_key != key
    assert dev_login(settings, new_key, login_file)[1] != password
