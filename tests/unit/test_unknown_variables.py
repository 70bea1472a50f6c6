"""Unknown FILEGATE_* variables are named at start-up instead of silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from filegate.settings import OTHER_VARIABLES, unknown_variables, warn_unknown_variables


def test_a_typo_in_the_environment_or_the_env_file_is_found(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FILEGATE_SPLIT_SIZ=2GB\nFILEGATE_PORT=8001\nOTHER=1\n")
    environ = {"FILEGATE_REDIS_ULR": "redis://x", "FILEGATE_REDIS_URL": "redis://y", "PATH": "/bin"}
    assert unknown_variables(environ, env_file) == ["FILEGATE_REDIS_ULR", "FILEGATE_SPLIT_SIZ"]


def test_settings_in_any_case_and_the_variables_read_elsewhere_are_known(tmp_path: Path) -> None:
    environ = {"filegate_port": "1", "Filegate_Auth": "off", **dict.fromkeys(OTHER_VARIABLES, "x")}
    assert unknown_variables(environ, tmp_path / "missing.env") == []
    assert unknown_variables({"filegate_prot": "1"}, tmp_path / "missing.env") == ["filegate_prot"]


def test_the_warning_names_the_variable_and_the_setting_it_may_mean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    warn_unknown_variables({"FILEGATE_PUBLIC_ULR": "https://x"}, tmp_path / "missing.env")
    [record] = [r for r in caplog.records if r.name == "filegate.settings"]
    assert record.levelname == "WARNING"
    assert "FILEGATE_PUBLIC_ULR is not a filegate setting" in record.getMessage()
    assert "did you mean FILEGATE_PUBLIC_URL?" in record.getMessage()


def test_a_process_says_so_on_its_standard_error_at_start_up(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("FILEGATE_")}
    env["FILEGATE_MAX_CONCURENT_BUILDS"] = "3"
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "from filegate.settings import load_settings; load_settings(); load_settings()",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [line for line in started.stderr.splitlines() if "FILEGATE_MAX_CONCURENT_BUILDS" in line]
    assert len(lines) == 1, started.stderr  # once per process, however often settings are read
    assert "did you mean FILEGATE_MAX_CONCURRENT_BUILDS?" in lines[0]
