"""requirements/*.txt, the lock files every install uses, agree with pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+) \\$", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def declared(*extras: str) -> list[Requirement]:
    lines = [
        *PROJECT["dependencies"],
        *(line for extra in extras for line in PROJECT["optional-dependencies"][extra]),
    ]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(("lock", "extras"), [("run.txt", ("monitor",)), ("dev.txt", ("monitor", "dev"))])
def test_every_declared_dependency_is_pinned_within_its_bounds(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in requirements/{lock}: run make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]} outside {requirement}: run make lock"
        )


def test_the_service_lock_has_no_development_tools() -> None:
    tools = {"pytest", "moto", "selenium", "hypothesis", "ruff", "mypy", "uv"}
    assert tools <= {canonicalize_name(line.name) for line in declared("dev")}
    assert not tools & set(pins("run.txt"))


@pytest.mark.parametrize("lock", ["run.txt", "dev.txt"])
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (ROOT / "requirements" / lock).read_text()
    for block in re.split(r"\n(?=\S)", text):
        if PIN.match(block):
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]} in requirements/{lock}"
