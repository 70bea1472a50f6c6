"""Print a Redis URL that answers: FILEGATE_REDIS_URL's, else a private redis-server started here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis

from filegate.settings import SettingsError, load_settings

PRIVATE_PORT = 6390
RUN_DIR = Path(".run/redis")


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def main() -> None:
    try:
        url = load_settings().redis_url
    except SettingsError as exc:
        sys.exit(f"filegate: bad configuration: {exc}")
    if answers(url):
        print(url)
        return
    private = f"redis://127.0.0.1:{PRIVATE_PORT}/0"
    if answers(private):
        print(private)
        return
    if shutil.which("redis-server") is None:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("installing redis-server", file=sys.stderr)
            subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, stdout=sys.stderr)
        else:
            sys.exit(
                f"filegate: no Redis answers at {url} and redis-server is not installed; "
                "install it (apt-get install redis-server) or set FILEGATE_REDIS_URL"
            )
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(PRIVATE_PORT),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(RUN_DIR.resolve()),
            "--logfile",
            "redis.log",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(100):
        if answers(private):
            print(
                f"filegate: {url} did not answer; started a private redis-server at {private}",
                file=sys.stderr,
            )
            print(private)
            return
        time.sleep(0.05)
    sys.exit(f"filegate: the private redis-server did not start; see {RUN_DIR}/redis.log")


if __name__ == "__main__":
    main()
