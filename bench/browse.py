"""Browse latency: GET /browse on a folder of 10,000 entries, on the local store and on S3 (moto).

    .venv/bin/python bench/browse.py [--requests 30] [--walks 5]     # make bench-browse, ~3 minutes

Everything runs on 127.0.0.1: a private redis-server, moto's S3 server (`moto_server`), and two
filegate APIs (uvicorn, no worker: browsing builds nothing), one on the local store and one on
S3, with auth on as in production (the admin token registers an app; every call carries its key).

The folder, `big/`, holds 1,000 folders and 9,000 files whose names interleave in S3's key order
("n00001.txt" < "n00001/" < "n00002.txt"), so that folders first is not the order S3 lists in.
Locally: empty folders and 1-byte files under bench/.data/browse/ (made once). On S3: a folder
marker ("n00000/") per folder and a 1-byte object per file, put into a fresh bucket each run.

Timed, one client, sequential, after a few untimed calls: the first page with limit=1000 and
limit=100 (--requests calls each), and walking every page by next_cursor with limit=1000 (10
pages) and limit=100 (100 pages) (--walks walks each). Baselines measured in the same run:
GET /health on the same API (the floor of any request), and for S3 moto's own answer to one
ListObjectsV2 of 1,000 keys with the delimiter, and to the whole folder (10 such requests)
through the minio client in this process. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import httpx
from minio import Minio

from latency import percentile, timed
from run import (
    ADMIN_TOKEN,
    DATA_DIR,
    OtherLoad,
    free_port,
    machine_summary,
    spawn_logged,
    stop_process,
    table_lines,
    terminate_cleanly,
    wait_until,
)

FOLDERS = 1_000
FILES = 9_000
FOLDER = "big"
SOURCE_BUCKET = "browse-sources"


def names() -> tuple[list[str], list[str]]:
    """Every tenth number is a folder, the others files: the two kinds interleave in key order."""
    numbers = range(FOLDERS + FILES)
    return [f"n{n:05d}" for n in numbers if n % 10 == 0], [f"n{n:05d}.txt" for n in numbers if n % 10]


def ensure_local_folder() -> Path:
    """bench/.data/browse/files/big/ with its 10,000 entries; the store's root is returned."""
    root = DATA_DIR / "browse" / "files"
    top = root / FOLDER
    folders, files = names()
    if top.is_dir() and sum(1 for _ in os.scandir(top)) == FOLDERS + FILES:
        return root
    shutil.rmtree(top, ignore_errors=True)
    top.mkdir(parents=True)
    for name in folders:
        (top / name).mkdir()
    for name in files:
        (top / name).write_bytes(b"x")
    return root


def fill_bucket(client: Minio) -> float:
    """The folder's keys into a fresh source bucket, from a few threads; returns the seconds taken."""
    started = time.perf_counter()
    client.make_bucket(SOURCE_BUCKET)
    folders, files = names()
    keys = [f"{FOLDER}/{name}/" for name in folders] + [f"{FOLDER}/{name}" for name in files]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.put_object(SOURCE_BUCKET, key, io.BytesIO(b"x"), 1), keys))
    return time.perf_counter() - started


class Services:
    """redis-server, moto and the APIs, each logged in ``workdir``; all stopped by ``close``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, args: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process = spawn_logged(args, self.workdir / log_name, env, self.workdir)
        self.processes.append(process)
        return process

    def listening(self, args: list[str], log_name: str, port: int) -> None:
        process = self.spawn(args, log_name)

        def listens() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return True
            return False

        wait_until(listens, process, self.workdir / log_name)

    def start_api(self, name: str, settings: dict[str, str]) -> httpx.Client:
        """An API with these FILEGATE_* settings; a client calling it as a registered app."""
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("FILEGATE_")}
        env.update(
            {
                "FILEGATE_PORT": str(port),
                "FILEGATE_SIGNING_SECRET": "bench-signing-secret",
                "FILEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
                "FILEGATE_OUTPUT_DIR": str(self.workdir / f"{name}-out"),
                **settings,
            }
        )
        args = [sys.executable, "-m", "uvicorn", "filegate.app:create_app", "--factory"]
        args += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        api = self.spawn(args, f"api-{name}.log", env)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)

        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return client.get("/health", timeout=1).status_code == 200
            return False

        wait_until(healthy, api, self.workdir / f"api-{name}.log")
        created = client.post(
            "/apps",
            json={"name": f"bench-browse-{name}", "scopes": ["/"]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /apps answered {created.status_code}: {created.text}")
        client.headers["Authorization"] = f"Bearer {created.json()['api_key']}"
        return client

    def close(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


def first_page(client: httpx.Client, limit: int) -> Callable[[], None]:
    def call() -> None:
        answer = client.get("/browse", params={"path": FOLDER, "limit": limit})
        assert answer.status_code == 200 and len(answer.json()["entries"]) == limit, answer.text

    return call


def every_page(client: httpx.Client, limit: int) -> Callable[[], None]:
    def call() -> None:
        params: dict[str, str | int] = {"path": FOLDER, "limit": limit}
        seen = 0
        while True:
            body = client.get("/browse", params=params).json()
            seen += len(body["entries"])
            if body["next_cursor"] is None:
                break
            params = {"path": FOLDER, "limit": limit, "cursor": body["next_cursor"]}
        assert seen == FOLDERS + FILES, seen

    return call


def health(client: httpx.Client) -> Callable[[], None]:
    def call() -> None:
        assert client.get("/health").status_code == 200

    return call


def moto_page(client: Minio) -> Callable[[], None]:
    def call() -> None:
        # The first 1,000 items of the public generator come from its first request.
        listed = list(islice(client.list_objects(SOURCE_BUCKET, prefix=f"{FOLDER}/"), 1000))
        assert len(listed) == 1000

    return call


def moto_folder(client: Minio) -> Callable[[], None]:
    def call() -> None:
        assert sum(1 for _ in client.list_objects(SOURCE_BUCKET, prefix=f"{FOLDER}/")) == FOLDERS + FILES

    return call


def measure(store: str, client: httpx.Client, requests: int, walks: int) -> list[tuple[str, list[float]]]:
    print(f"[{store}] timing ...", flush=True)
    return [
        (f"{store}: GET /health (floor, baseline)", timed(health(client), requests, 10)),
        (f"{store}: first page, limit=1000", timed(first_page(client, 1000), requests, 3)),
        (f"{store}: first page, limit=100", timed(first_page(client, 100), requests, 3)),
        (f"{store}: every page, limit=1000 (10 pages)", timed(every_page(client, 1000), walks, 1)),
        (f"{store}: every page, limit=100 (100 pages)", timed(every_page(client, 100), walks, 1)),
    ]


def rows_of(results: list[tuple[str, list[float]]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("request", "calls", "p50 ms", "p99 ms", "p50 vs /health")]
    floor = 0.0
    for label, samples in results:
        p50 = statistics.median(samples)
        if "/health" in label:
            floor = p50
        ratio = f"{p50 / floor:,.0f}×" if floor and "moto" not in label else "-"
        p99 = percentile(samples, 0.99)
        rows.append((label, str(len(samples)), f"{p50 * 1000:,.1f}", f"{p99 * 1000:,.1f}", ratio))
    return rows


@contextlib.contextmanager
def services_in(workdir: Path) -> Iterator[Services]:
    services = Services(workdir)
    try:
        yield services
    finally:
        services.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=30, help="timed calls per single request (30)")
    parser.add_argument("--walks", type=int, default=5, help="timed walks through every page (5)")
    args = parser.parse_args()
    for tool in ("redis-server", "moto_server"):
        if shutil.which(tool) is None and not Path(sys.executable).with_name(tool).exists():
            print(f"{tool} is missing: `make install` installs it", file=sys.stderr)
            return 2

    root = ensure_local_folder()
    others = OtherLoad()
    results: list[tuple[str, list[float]]] = []
    with terminate_cleanly(), tempfile.TemporaryDirectory(prefix="filegate-browse-") as scratch:
        work = Path(scratch)
        with services_in(work) as services:
            redis_port, moto_port = free_port(), free_port()
            redis_args = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
            services.listening([*redis_args, "--appendonly", "no"], "redis.log", redis_port)
            moto = str(Path(sys.executable).with_name("moto_server"))
            services.listening([moto, "-H", "127.0.0.1", "-p", str(moto_port)], "moto.log", moto_port)
            endpoint = f"http://127.0.0.1:{moto_port}"
            s3 = Minio(f"127.0.0.1:{moto_port}", "testing", "testing", secure=False, region="us-east-1")
            print(f"putting {FOLDERS + FILES:,} keys into moto ...", flush=True)
            print(f"  done in {fill_bucket(s3):.1f} s", flush=True)

            redis_url = f"redis://127.0.0.1:{redis_port}"
            local = services.start_api(
                "local", {"FILEGATE_REDIS_URL": f"{redis_url}/0", "FILEGATE_LOCAL_ROOT": str(root)}
            )
            remote = services.start_api(
                "s3",
                {
                    "FILEGATE_REDIS_URL": f"{redis_url}/1",
                    "FILEGATE_STORAGE": "s3",
                    "FILEGATE_S3_ENDPOINT": endpoint,
                    "FILEGATE_S3_ACCESS_KEY": "testing",
                    "FILEGATE_S3_SECRET_KEY": "testing",
                    "FILEGATE_S3_SOURCE_BUCKET": SOURCE_BUCKET,
                    "FILEGATE_S3_OUTPUT_BUCKET": "browse-outputs",
                },
            )
            results += measure("local", local, args.requests, args.walks)
            s3_results = measure("S3", remote, args.requests, args.walks)
            results += s3_results[:1]
            results += [
                (
                    "S3: moto ListObjectsV2, 1,000 keys (1 request)",
                    timed(moto_page(s3), args.requests, 3),
                ),
                (
                    "S3: moto ListObjectsV2, whole folder (10 requests)",
                    timed(moto_folder(s3), args.walks, 1),
                ),
            ]
            results += s3_results[1:]
            local.close()
            remote.close()
    print(f"\nmachine: {machine_summary().rsplit('; This is Zip', 1)[0]}")
    print(f"folder: {FOLDERS:,} folders and {FILES:,} files, names interleaved; one client, sequential")
    print("\n".join(table_lines(rows_of(results))))
    print(f"\n{others.report()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
