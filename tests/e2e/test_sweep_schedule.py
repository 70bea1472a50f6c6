"""No single beat: two cleanup workers, and no beat, sweep once a second between them; when one
is killed, the other goes on sweeping."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Service, service_env

DATABASE = 29
RUN = re.compile(r"^sweep of interval (\d+)$")


@pytest.fixture
def two_cleanup_workers(redis_url: str, workdir: Path) -> Iterator[Service]:
    home = workdir / "sweep-schedule"
    (home / "files").mkdir(parents=True)
    service = Service(service_env(f"{redis_url}/{DATABASE}", home, FILEGATE_SWEEP_INTERVAL="1s"), home)
    try:
        service.extra_workers.append(service._start_celery_worker("cleanup", home / "cleanup-1.log", "one"))
        service.extra_workers.append(service._start_celery_worker("cleanup", home / "cleanup-2.log", "two"))
        yield service
    finally:
        service.stop()


def _sweeps(service: Service) -> list[int]:
    """The intervals a sweep ran in, from both workers' logs, in the order found."""
    found = []
    for log in sorted(service.workdir.glob("cleanup-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                match = RUN.match(json.loads(line).get("message", ""))
                if match:
                    found.append(int(match.group(1)))
    return found


def test_two_workers_sweep_once_an_interval_and_one_left_goes_on(two_cleanup_workers: Service) -> None:
    time.sleep(5)
    before = _sweeps(two_cleanup_workers)
    assert len(before) == len(set(before)), f"an interval was swept twice: {sorted(before)}"
    assert len(before) >= 3, f"sweeps ran in {before} only"

    one = two_cleanup_workers.extra_workers[0]
    one.send_signal(signal.SIGKILL)
    one.wait(timeout=10)
    time.sleep(4)
    after = _sweeps(two_cleanup_workers)
    assert len(after) == len(set(after))
    later = [slot for slot in after if slot > max(before)]
    assert len(later) >= 2, f"no sweeps once one worker was gone: {after}"
