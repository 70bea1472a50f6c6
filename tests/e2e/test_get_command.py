"""``filegate get``, ``status``, ``result`` and ``cancel`` run as a user runs them: a real process
against a running filegate."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from tests.client import current_state
from tests.conftest import Deployment
from tests.readers import files_in_parts
from tests.services import Service, free_port, redis_server, service_env
from tests.sources import LocalSources, put_split_set

FILEGATE = str(Path(sys.executable).with_name("filegate"))
PART_NAME = re.compile(r"^(\S+\.zip): SHA-256 verified$", re.MULTILINE)


def _env(deployment: Deployment | None, home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FILEGATE_")}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    if deployment is not None:
        env["FILEGATE_SERVER"] = deployment.base_url
        env["FILEGATE_KEY"] = deployment.service.api_key or ""
    return {**env, **extra}


def _run(
    deployment: Deployment | None, home: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FILEGATE, *args],
        env=_env(deployment, home, **extra),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _sources(deployment: Deployment, count: int = 3, size: int = 3000) -> tuple[str, dict[str, bytes]]:
    root = deployment.folder()
    files = {f"{root}/file-{number}.bin": os.urandom(size) for number in range(count)}
    for path, data in files.items():
        deployment.sources.put(path, data)
    return root, files


def _get(deployment: Deployment, home: Path, root: str, output: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        deployment, home, "get", f"{root}/", "-o", str(output), "--split", "4KB", "--compression", "store"
    )


def test_get_saves_verified_parts_that_unzip_to_the_sources(deployment: Deployment, tmp_path: Path) -> None:
    root, files = _sources(deployment)

    done = _get(deployment, tmp_path, root, tmp_path / "out")

    assert done.returncode == 0, done.stderr
    parts = PART_NAME.findall(done.stdout)
    assert len(parts) >= 2
    assert sorted(parts) == sorted(path.name for path in (tmp_path / "out").iterdir())
    assert files_in_parts([tmp_path / "out" / name for name in parts]) == files
    # Not a terminal: plain lines, no bars or colours.
    assert "\x1b[" not in done.stdout
    assert "status: queued" in done.stdout or "status: ready" in done.stdout
    assert done.stdout.splitlines()[-1] == f"done: {len(parts)} parts in {tmp_path / 'out'}"


def test_get_continues_a_partial_part_and_keeps_complete_ones(deployment: Deployment, tmp_path: Path) -> None:
    root, files = _sources(deployment)
    first = _get(deployment, tmp_path, root, tmp_path / "first")
    assert first.returncode == 0, first.stderr
    whole, cut, *_ = sorted(PART_NAME.findall(first.stdout))
    again = tmp_path / "again"
    again.mkdir()
    (again / whole).write_bytes((tmp_path / "first" / whole).read_bytes())
    half = (tmp_path / "first" / cut).read_bytes()[: (tmp_path / "first" / cut).stat().st_size // 2]
    (again / f"{cut}.part").write_bytes(half)

    done = _get(deployment, tmp_path, root, again)

    assert done.returncode == 0, done.stderr
    assert f"{whole}: already on disk, SHA-256 verified" in done.stdout
    assert f"{cut}: resumed after {len(half)} bytes, SHA-256 verified" in done.stdout
    assert (again / cut).read_bytes() == (tmp_path / "first" / cut).read_bytes()
    assert not (again / f"{cut}.part").exists()
    assert files_in_parts(sorted(again.iterdir())) == files


def test_a_corrupted_part_on_disk_exits_4(local_deployment: Deployment, tmp_path: Path) -> None:
    root, _ = _sources(local_deployment)
    first = _get(local_deployment, tmp_path, root, tmp_path / "out")
    assert first.returncode == 0, first.stderr
    name = sorted(PART_NAME.findall(first.stdout))[0]
    damaged = bytearray((tmp_path / "out" / name).read_bytes())
    damaged[100] ^= 0xFF
    (tmp_path / "out" / name).write_bytes(bytes(damaged))

    done = _get(local_deployment, tmp_path, root, tmp_path / "out")

    assert done.returncode == 4
    assert done.stderr.count("\n") == 1
    assert name in done.stderr and "SHA-256" in done.stderr and "remove it" in done.stderr


def _start(deployment: Deployment, home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FILEGATE, *args],
        env=_env(deployment, home),
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_until(stream: IO[str] | None, text: str) -> list[str]:
    """Lines of ``stream`` up to and with the first that holds ``text``."""
    assert stream is not None
    lines = []
    while line := stream.readline():
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came: {lines}")


def test_a_failed_build_prints_its_reason_and_exits_1(local_deployment: Deployment, tmp_path: Path) -> None:
    root, _ = _sources(local_deployment, count=2)
    local_deployment.service.stop_worker()
    try:
        process = _start(local_deployment, tmp_path, "get", f"{root}/", "-o", str(tmp_path / "out"))
        _read_until(process.stdout, "status: queued")
        local_deployment.sources.put(f"{root}/file-1.bin", b"changed after the request")
    finally:
        local_deployment.service.start_worker()
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 1, stdout + stderr
    assert "status: failed" in stdout
    assert stderr.count("\n") == 1 and "failed" in stderr and f"{root}/file-1.bin" in stderr


def test_ctrl_c_cancels_the_ticket_and_exits_130(local_deployment: Deployment, tmp_path: Path) -> None:
    root, _ = _sources(local_deployment, count=1)
    local_deployment.service.stop_worker()
    try:
        process = _start(local_deployment, tmp_path, "get", f"{root}/", "-o", str(tmp_path / "out"))
        lines = _read_until(process.stdout, "status: queued")
        ticket_id = lines[0].split()[1].rstrip(":")
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
        assert process.returncode == 130
        assert f"interrupted: ticket {ticket_id} is cancelled" in stdout
        assert current_state(local_deployment.base_url, ticket_id)["status"] == "cancelled"
    finally:
        local_deployment.service.start_worker()


def test_status_result_and_cancel_print_the_tickets_json(
    local_deployment: Deployment, tmp_path: Path
) -> None:
    root, _ = _sources(local_deployment, count=1)
    done = _run(local_deployment, tmp_path, "get", f"{root}/", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    ticket_id = done.stdout.split()[1].rstrip(":")

    assert '"status": "ready"' in _run(local_deployment, tmp_path, "status", ticket_id).stdout
    followed = _run(local_deployment, tmp_path, "status", ticket_id, "--follow")
    assert followed.returncode == 0 and followed.stdout.splitlines()[-1] == "status: ready"
    assert '"sha256"' in _run(local_deployment, tmp_path, "result", ticket_id).stdout
    assert '"status": "expired"' in _run(local_deployment, tmp_path, "cancel", ticket_id).stdout
    gone = _run(local_deployment, tmp_path, "result", ticket_id)
    assert gone.returncode == 1 and "gone" in gone.stderr and "Traceback" not in gone.stderr


def test_the_terminal_display_draws_bars_and_says_what_it_verified(
    local_deployment: Deployment, tmp_path: Path
) -> None:
    root, files = _sources(local_deployment)
    args = ["get", f"{root}/", "-o", str(tmp_path / "out"), "--split", "4KB", "--compression", "store"]
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [FILEGATE, *args],
        env=_env(local_deployment, tmp_path, TERM="xterm-256color", COLUMNS="120"),
        cwd=tmp_path,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        assert ready, shown
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other end is closed: the command has exited
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)

    assert process.wait(timeout=60) == 0, shown
    text = shown.decode(errors="replace")
    assert "\x1b[" in text  # drawn, not logged
    assert text.count("SHA-256 verified") >= 2
    assert files_in_parts(sorted((tmp_path / "out").iterdir())) == files


@pytest.mark.parametrize(
    "args",
    [
        ["get", "x", "--bogus"],
        ["status", "id", "--colour"],
        ["apps", "list", "--all"],
        ["api", "--port", "1"],
    ],
)
def test_an_unknown_flag_is_refused_with_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = _run(None, tmp_path, *args)
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_an_unreachable_server_gives_one_line_and_exit_3(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    for args in (["get", "x", "--server", server], ["status", "some-id", "--server", server]):
        done = _run(None, tmp_path, *args)
        assert done.returncode == 3
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert f"cannot reach {server}" in done.stderr


def test_unreachable_redis_gives_one_line_and_exit_3(tmp_path: Path) -> None:
    done = _run(None, tmp_path, "apps", "list", FILEGATE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "cannot reach Redis" in done.stderr


def test_the_config_file_gives_server_and_key(local_deployment: Deployment, tmp_path: Path) -> None:
    root, _ = _sources(local_deployment, count=1)
    (tmp_path / "config" / "filegate").mkdir(parents=True)
    (tmp_path / "config" / "filegate" / "config.toml").write_text(
        f'server = "{local_deployment.base_url}"\nkey = "{local_deployment.service.api_key}"\n'
    )
    done = _run(None, tmp_path, "get", f"{root}/file-0.bin", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "file-0.bin").stat().st_size == 3000
    refused = _run(None, tmp_path, "get", f"{root}/file-0.bin", "--key", "fgk_wrong")
    assert refused.returncode == 1 and "unauthorized" in refused.stderr


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    done = _run(None, tmp_path, "--version")
    assert done.returncode == 0
    assert re.fullmatch(r"filegate \d+\.\d+\.\d+\S*\n", done.stdout)


def test_a_server_without_its_redis_gives_one_line_and_exit_3(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    with redis_server(tmp_path) as redis_url:
        service = Service(service_env(f"{redis_url}/16", tmp_path, FILEGATE_AUTH="off"), tmp_path)
        service.start_api()
    try:  # Redis has stopped; the API goes on without it
        done = _run(None, tmp_path, "get", "anything", "--server", service.base_url)
    finally:
        service.stop()

    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "unavailable" in done.stderr and "try again later" in done.stderr


def test_get_saves_the_first_part_while_the_next_one_is_still_built(
    local_deployment: Deployment, tmp_path: Path
) -> None:
    root = local_deployment.folder()
    sources = local_deployment.sources
    assert isinstance(sources, LocalSources)
    # Part 2 is long enough to build that part 1 is saved meanwhile.
    expected = put_split_set(sources, root, 1024**3)
    try:
        done = _run(
            local_deployment, tmp_path, "get", f"{root}/", "-o", str(tmp_path / "out"), "--split", "8MB",
            "--compression", "store", "--name", "set",
        )  # fmt: skip
    finally:
        (sources.root / root / "b.bin").unlink()

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    saved_first = lines.index("set-1-of-3.zip: SHA-256 verified")
    [started] = [
        number for number, line in enumerate(lines) if line.startswith("downloading set-1-of-3.zip ")
    ]
    assert lines.index("part 1 of 3 built") < started < saved_first
    assert saved_first < lines.index("part 2 of 3 built") < lines.index("status: ready")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        f"set-{number}-of-3.zip" for number in (1, 2, 3)
    ]
    assert lines[-1] == f"done: 3 parts in {tmp_path / 'out'}"
    small = files_in_parts([tmp_path / "out" / "set-1-of-3.zip", tmp_path / "out" / "set-3-of-3.zip"])
    assert small == {path: data for path, data in expected.items() if data is not None}
