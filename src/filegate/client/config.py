"""Where ``filegate get`` finds its server and key: flags, then FILEGATE_SERVER / FILEGATE_KEY,
then ``$XDG_CONFIG_HOME/filegate/config.toml`` (``~/.config`` by default)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ConfigError(Exception):
    """The config file cannot be read, or holds something that is not a string where one belongs."""


@dataclass(frozen=True)
class ClientConfig:
    server: str
    key: str | None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "filegate" / "config.toml"


def _from_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    values: dict[str, str] = {}
    for name in ("server", "key"):
        if name in data:
            if not isinstance(data[name], str):
                raise ConfigError(f"{path}: '{name}' must be a string")
            values[name] = data[name]
    return values


def resolve_config(server: str | None, key: str | None) -> ClientConfig:
    """The server and key to use: a flag wins over the environment, which wins over the file."""
    saved = _from_file(config_path())
    return ClientConfig(
        server=server or os.environ.get("FILEGATE_SERVER") or saved.get("server") or DEFAULT_SERVER,
        key=key or os.environ.get("FILEGATE_KEY") or saved.get("key") or None,
    )
