"""Where the get command's server and key come from: flags, then environment, then the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from filegate.client.config import DEFAULT_SERVER, ConfigError, resolve_config


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("FILEGATE_SERVER", raising=False)
    monkeypatch.delenv("FILEGATE_KEY", raising=False)
    (tmp_path / "filegate").mkdir()
    return tmp_path / "filegate" / "config.toml"


def test_flags_win_over_the_environment_which_wins_over_the_file(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_home.write_text('server = "http://file:1"\nkey = "from-file"\n')
    assert resolve_config(None, None).server == "http://file:1"
    assert resolve_config(None, None).key == "from-file"

    monkeypatch.setenv("FILEGATE_SERVER", "http://env:2")
    monkeypatch.setenv("FILEGATE_KEY", "from-env")
    assert resolve_config(None, None) == resolve_config(None, None).__class__("http://env:2", "from-env")

    config = resolve_config("http://flag:3", "from-flag")
    assert (config.server, config.key) == ("http://flag:3", "from-flag")


def test_without_any_the_local_default_and_no_key(config_home: Path) -> None:
    config = resolve_config(None, None)
    assert (config.server, config.key) == (DEFAULT_SERVER, None)


@pytest.mark.parametrize("text", ['server = "unclosed', "server = 3\n"])
def test_a_bad_config_file_is_named(config_home: Path, text: str) -> None:
    config_home.write_text(text)
    with pytest.raises(ConfigError, match=r"config\.toml"):
        resolve_config(None, None)
