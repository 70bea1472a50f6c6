"""Throughput and memory of filegate's archive builds, against `cat` and Info-ZIP `zip`, in one run.

    .venv/bin/python bench/run.py            # ~2.2 GB of data; several minutes
    .venv/bin/python bench/run.py --quick    # ~0.4 GB; about a minute

Two data sets are generated under bench/.data/ (and reused while their parameters stay the
same): "small", thousands of 1-64 KiB files in nested folders, half compressible text and half
random bytes; and "large", two big random files. For each, the store-speed methods run once
untimed to warm the page cache, the worker and the allocator (the page cache cannot be dropped
here; the deflating methods are bound by the CPU and are not warmed), then every method is timed
``--repeat`` times, interleaved, after an os.sync(), and the best time is kept. MB/s is MB
(10^6 bytes) of source data per second. CPU used by other processes during the run is reported:
on two cores anyone else's job shows up in the figures.

Methods: `cat` of every file into one file (a ceiling for moving the bytes), `zip -r -0` (the
baseline every ratio is against) and `zip -r -6`; filegate end to end with compression store
and deflate (POST /download, then GET /ticket/{id}/status every ~20 ms until ready, against a
private redis-server, one Celery worker and uvicorn); and filegate's snapshot + builder
called in this process (store), which shows what the service around it costs.

Memory: for `cat` and `zip` the command's peak RSS, ru_maxrss as GNU time gets it from wait4
(see run_child for why not straight from here). For the worker, the growth during a build in
the process that builds (the prefork pool child, or the main process with --pool solo):
VmRSS before, the peak reset through /proc/<pid>/clear_refs, VmHWM after. Nothing here asserts
a time: targets are printed as met or missed, for a person to read.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
MB = 1_000_000
KIB = 1024
MIB = 1024 * 1024
POLL_INTERVAL = 0.02
BUILD_TIMEOUT = 1800.0
BASELINE = "zip -r -0"


# ---------------------------------------------------------------- data sets


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    small_files: int = 0
    small_min: int = 1 * KIB
    small_max: int = 64 * KIB
    large_sizes: tuple[int, ...] = ()
    seed: int = 20240611
    version: int = 1  # bump when the generator changes

    def params(self) -> dict[str, Any]:
        return asdict(self)


def dataset_specs(quick: bool) -> list[DatasetSpec]:
    if quick:
        return [DatasetSpec("small", small_files=1500), DatasetSpec("large", large_sizes=(150 * MIB,) * 2)]
    return [DatasetSpec("small", small_files=5000), DatasetSpec("large", large_sizes=(1024 * MIB,) * 2)]


_TEXT_EXTENSIONS = (".txt", ".csv", ".json", ".log", ".md")
_RANDOM_EXTENSIONS = (".bin", ".dat")


def _text_corpus(rng: random.Random, size: int) -> bytes:
    """Text-like bytes: lines of words from a small vocabulary, with numbers; zlib 6 gets about 2.2:1."""
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    vocabulary = [
        "".join(rng.choices(letters, weights=range(26, 0, -1), k=rng.randint(2, 10))) for _ in range(3000)
    ]
    lines: list[str] = []
    total = 0
    while total < size:
        words = rng.choices(vocabulary, k=rng.randint(4, 16))
        line = f"{rng.randint(0, 99999):05d} {' '.join(words)} {rng.random():.6f}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def _generate(spec: DatasetSpec, top: Path) -> None:
    rng = random.Random(spec.seed)
    top.mkdir(parents=True)
    if spec.small_files:
        corpus = _text_corpus(rng, 4 * MIB)
        for index in range(spec.small_files):
            folder = top / f"group{index % 16:02d}" / f"batch{(index // 16) % 12:02d}"
            if index % 5 == 0:
                folder = folder / "deeper"
            folder.mkdir(parents=True, exist_ok=True)
            size = rng.randint(spec.small_min, spec.small_max)
            if index % 2 == 0:
                start = rng.randrange(0, len(corpus) - size)
                data = corpus[start : start + size]
                extension = rng.choice(_TEXT_EXTENSIONS)
            else:
                data = rng.randbytes(size)
                extension = rng.choice(_RANDOM_EXTENSIONS)
            (folder / f"file{index:05d}{extension}").write_bytes(data)
    for index, size in enumerate(spec.large_sizes):
        with (top / f"blob{index}.bin").open("wb") as out:
            remaining = size
            while remaining:
                chunk = min(remaining, 16 * MIB)
                out.write(rng.randbytes(chunk))
                remaining -= chunk


def ensure_dataset(spec: DatasetSpec, root: Path) -> Path:
    """The data set's top folder ``root/<name>``, generated unless present with the same parameters."""
    top = root / spec.name
    params_file = root / f"{spec.name}.params.json"
    wanted = json.dumps(spec.params(), sort_keys=True)
    if top.is_dir() and params_file.is_file() and params_file.read_text() == wanted:
        return top
    params_file.unlink(missing_ok=True)
    shutil.rmtree(top, ignore_errors=True)
    print(f"generating data set {spec.name!r} in {top} ...", flush=True)
    started = time.perf_counter()
    _generate(spec, top)
    params_file.write_text(wanted)  # written last: a half-made data set is never reused
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return top


def list_files(top: Path) -> list[str]:
    """Every file below ``top``, relative to its parent, in a stable order."""
    found: list[str] = []
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(folder, name), top.parent))
    return found


@dataclass(frozen=True)
class Dataset:
    spec: DatasetSpec
    root: Path  # what FILEGATE_LOCAL_ROOT points at; the data set is the folder root/<name>
    files: list[str]
    total_bytes: int
    folders: int

    @property
    def name(self) -> str:
        return self.spec.name


def load_dataset(spec: DatasetSpec, root: Path) -> Dataset:
    top = ensure_dataset(spec, root)
    files = list_files(top)
    total = sum(os.stat(root / path).st_size for path in files)
    folders = sum(len(dirs) for _, dirs, _ in os.walk(top)) + 1
    return Dataset(spec, root, files, total, folders)


# ---------------------------------------------------------------- measurements


@dataclass
class Sample:
    seconds: float
    output_bytes: int
    peak_rss: int | None = None  # bytes, absolute peak of the process
    rss_growth: int | None = None  # bytes, peak minus the resident size before the build
    post_seconds: float | None = None  # filegate: until POST /download answered (snapshot, enqueue)
    read_bytes: int | None = None  # filegate: bytes the building process read (rchar) during the build


@dataclass
class Result:
    method: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def best(self) -> Sample:
        return min(self.samples, key=lambda sample: sample.seconds)

    @property
    def median_seconds(self) -> float:
        return statistics.median(sample.seconds for sample in self.samples)

    def max_of(self, attribute: str) -> int | None:
        values = [getattr(sample, attribute) for sample in self.samples]
        present = [value for value in values if value is not None]
        return max(present) if present else None


GNU_TIME = Path("/usr/bin/time")


def run_child(
    args: list[str], cwd: Path, out_dir: Path, stdout: Path | None = None
) -> tuple[float, int | None]:
    """Run a command to its end; returns (seconds, the command's peak RSS in bytes).

    wait4's ru_maxrss of a child started from here would be no use: subprocess starts it
    with vfork, and Linux keeps the high-water mark of the memory it replaces at exec, so
    even `true` would report this Python's own peak. The command runs under GNU time
    instead, a small process that forks it, takes ru_maxrss from its own wait4 and writes
    it out. Without GNU time the peak is unknown (None).
    """
    rss_file = out_dir / "child-maxrss"
    wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *args] if GNU_TIME.exists() else args
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        started = time.perf_counter()
        # In a session of its own, so that an interrupted bench can end it with its group.
        process = subprocess.Popen(
            wrapped, cwd=cwd, stdout=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            _, status, _ = os.wait4(process.pid, 0)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{args[:4]}... exited with {process.returncode}")
    if not GNU_TIME.exists():
        return elapsed, None
    peak_kib = int(rss_file.read_text().split()[-1])
    rss_file.unlink()
    return elapsed, peak_kib * 1024


def measure_cat(dataset: Dataset, out_dir: Path) -> Sample:
    target = out_dir / "cat.out"
    try:
        seconds, peak = run_child(["cat", *dataset.files], dataset.root, out_dir, stdout=target)
        return Sample(seconds, target.stat().st_size, peak_rss=peak)
    finally:
        target.unlink(missing_ok=True)


def measure_zip(dataset: Dataset, out_dir: Path, level: int) -> Sample:
    target = out_dir / f"zip{level}.zip"
    target.unlink(missing_ok=True)  # zip would add to an existing archive
    try:
        seconds, peak = run_child(
            ["zip", "-r", f"-{level}", "-q", str(target), dataset.name], dataset.root, out_dir
        )
        return Sample(seconds, target.stat().st_size, peak_rss=peak)
    finally:
        target.unlink(missing_ok=True)


def _proc_status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def bytes_read(pid: int) -> int:
    """All bytes ``pid`` has read through read(2) and its kin: files and sockets (rchar). Redis
    and broker traffic during a build is a few kilobytes, so the growth over a build is, to
    within them, the source bytes read."""
    with open(f"/proc/{pid}/io") as io_counts:
        for line in io_counts:
            key, _, value = line.partition(":")
            if key == "rchar":
                return int(value)
    raise RuntimeError(f"no rchar in /proc/{pid}/io")


class MemoryWatch:
    """RSS growth of one process over a span: VmRSS before, peak reset, VmHWM after."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = 0

    def start(self) -> None:
        with open(f"/proc/{self.pid}/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM to the current RSS
        self.before = _proc_status(self.pid)["VmRSS"]

    def stop(self) -> tuple[int, int]:
        """(peak RSS, growth), in bytes."""
        peak = _proc_status(self.pid)["VmHWM"]
        return peak, max(0, peak - self.before)


def measure_in_process(dataset: Dataset, out_dir: Path, compression: str) -> Sample:
    """filegate's snapshot and builder in this process, one ZIP into LocalStorage."""
    from filegate.archive.builder import Progress, build_parts
    from filegate.archive.parts import plan_parts
    from filegate.snapshot.paths import normalise_paths
    from filegate.snapshot.service import SnapshotLimits, take_snapshot
    from filegate.storage.local import LocalStorage

    def ignore(_: Progress) -> None:
        pass

    storage = LocalStorage(dataset.root, out_dir, "http://127.0.0.1:1", "bench-signing-secret")
    watch = MemoryWatch(os.getpid())
    watch.start()
    try:
        started = time.perf_counter()
        manifest = take_snapshot(storage, normalise_paths([dataset.name]), SnapshotLimits(10**7, 10**15))
        parts = build_parts(storage, plan_parts(manifest, None), "bench", "inprocess", compression, ignore)
        elapsed = time.perf_counter() - started
        peak, growth = watch.stop()
        size = sum(part.size for part in parts if part.name.endswith(".zip"))
        return Sample(elapsed, size, peak_rss=peak, rss_growth=growth)
    finally:
        shutil.rmtree(out_dir / "inprocess", ignore_errors=True)


def in_process_available() -> bool:
    """Whether this bench still knows the builder's internal API (it changes more than HTTP does)."""
    try:
        from filegate.archive.builder import build_parts  # noqa: F401
        from filegate.archive.parts import plan_parts  # noqa: F401
    except ImportError as exc:
        print(f"note: in-process build skipped, the builder's API changed ({exc})", file=sys.stderr)
        return False
    return True


# ---------------------------------------------------------------- the service


def spawn_logged(
    args: list[str], log: Path, env: dict[str, str] | None, cwd: Path
) -> subprocess.Popen[bytes]:
    """A service process writing to ``log``, in its own session, started in ``cwd`` (so no
    stray .env file is read)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """Until ``ready()``; raises with the end of ``log`` when the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            raise RuntimeError(f"{process.args!r} exited early:\n{tail}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not become ready; see {log}")


ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL; finally whatever is left of the process group it leads."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Each service was started in its own session: its group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
            # pid (comm) state ppid ...; comm may hold spaces and parentheses
            fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


class Filegate:
    """A private redis-server, one Celery worker and one uvicorn, all stopped by ``close``."""

    def __init__(
        self,
        root: Path,
        out_dir: Path,
        workdir: Path,
        pool: str,
        extra_env: dict[str, str] | None = None,
        worker_env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = extra_env or {}
        self.worker_env = worker_env or {}
        self.root = root
        self.out_dir = out_dir
        self.workdir = workdir
        self.pool = pool
        self.processes: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base_url, timeout=60)
        self.worker: subprocess.Popen[bytes] | None = None
        self.requests = 0
        self.redis_url = ""

    def _spawn(
        self, args: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process = spawn_logged(args, self.workdir / log_name, env, self.workdir)
        self.processes.append(process)
        return process

    def _wait_until(self, ready: Callable[[], bool], process: subprocess.Popen[bytes], log_name: str) -> None:
        wait_until(ready, process, self.workdir / log_name)

    def start(self) -> None:
        redis_port = free_port()
        redis = self._spawn(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            "redis.log",
        )

        def redis_listens() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", redis_port), 0.2):
                return True
            return False

        self._wait_until(redis_listens, redis, "redis.log")
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"

        env = {key: value for key, value in os.environ.items() if not key.startswith("FILEGATE_")}
        env.update(
            {
                "FILEGATE_REDIS_URL": self.redis_url,
                "FILEGATE_PORT": str(self.port),
                "FILEGATE_LOCAL_ROOT": str(self.root),
                "FILEGATE_OUTPUT_DIR": str(self.out_dir),
                "FILEGATE_SIGNING_SECRET": "bench-signing-secret",
                "FILEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
                # Measured here: the builds, not the rate limit.
                "FILEGATE_RATE_DOWNLOADS": "1000000/minute",
                **self.extra_env,
            }
        )
        worker_args = [sys.executable, "-m", "celery", "-A", "filegate.worker", "worker", "-Q", "downloads"]
        worker_args += ["--pool", self.pool, "--concurrency", "1", "--without-mingle", "--without-gossip"]
        self.worker = self._spawn([*worker_args, "-l", "INFO"], "worker.log", {**env, **self.worker_env})
        worker_log = self.workdir / "worker.log"
        self._wait_until(lambda: b" ready." in worker_log.read_bytes(), self.worker, "worker.log")

        api_args = [sys.executable, "-m", "uvicorn", "filegate.app:create_app", "--factory"]
        api_args += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        api = self._spawn(api_args, "api.log", env)

        def api_healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/health", timeout=1).status_code == 200
            return False

        self._wait_until(api_healthy, api, "api.log")
        # Calls are made as a registered app, as clients in production do (auth is part of the cost).
        created = self.client.post(
            "/apps",
            json={"name": "bench", "scopes": ["/"], "max_priority": "high"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        created.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {created.json()['api_key']}"

    def builder_pid(self) -> int:
        """The process that runs builds: the pool child under prefork, else the worker itself."""
        assert self.worker is not None
        if self.pool == "solo":
            return self.worker.pid
        children = children_of(self.worker.pid)
        if len(children) != 1:
            raise RuntimeError(f"expected one pool process under the worker, found {children}")
        return children[0]

    def _request(
        self, paths: list[str], compression: str, split_size: str | None = None
    ) -> tuple[str, float, float]:
        """POST /download, then the status every POLL_INTERVAL until ready.

        Returns (ticket id, seconds until POST answered, seconds until ready was seen)."""
        started = time.perf_counter()
        # A new name for every request: filegate hands out the archive it already has for the same
        # files and options, and every request here must be a build.
        self.requests += 1
        body: dict[str, Any] = {"paths": paths, "compression": compression, "name": f"bench{self.requests}"}
        if split_size is not None:
            body["split_size"] = split_size
        created = self.client.post("/download", json=body)
        if created.status_code != 202:
            raise RuntimeError(f"POST /download answered {created.status_code}: {created.text}")
        posted = time.perf_counter() - started
        ticket_id: str = created.json()["ticket_id"]
        headers = {"Accept": "application/json"}
        while True:
            state = self.client.get(f"/ticket/{ticket_id}/status", headers=headers).json()
            if state["status"] == "ready":
                return ticket_id, posted, time.perf_counter() - started
            if state["status"] in ("failed", "cancelled", "expired"):
                raise RuntimeError(f"ticket {ticket_id} ended {state}")
            if time.perf_counter() - started > BUILD_TIMEOUT:
                raise RuntimeError(f"ticket {ticket_id} not ready after {BUILD_TIMEOUT} s: {state}")
            time.sleep(POLL_INTERVAL)

    def _archives(self) -> list[Path]:
        """The ZIP parts the build wrote (not the manifest beside them). Outputs are deleted after
        each request, so whatever the output folder's layout, all that is there is this build's."""
        return sorted(path for path in self.out_dir.rglob("*.zip") if path.is_file())

    def _clear_outputs(self) -> None:
        for child in self.out_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def build(self, paths: list[str], compression: str, split_size: str | None = None) -> Sample:
        """One timed request; its outputs are deleted afterwards."""
        builder = self.builder_pid()
        watch = MemoryWatch(builder)
        watch.start()
        read_before = bytes_read(builder)
        _, posted, elapsed = self._request(paths, compression, split_size)
        peak, growth = watch.stop()
        read = bytes_read(builder) - read_before
        try:
            size = sum(path.stat().st_size for path in self._archives())
            return Sample(
                elapsed, size, peak_rss=peak, rss_growth=growth, post_seconds=posted, read_bytes=read
            )
        finally:
            self._clear_outputs()

    def check_archive(self, paths: list[str], expected_entries: int) -> None:
        """One untimed build whose archive is opened and counted: the timed ones are real ZIPs."""
        self._clear_outputs()
        self._request(paths, "store")
        try:
            archives = self._archives()
            count = 0
            for path in archives:
                with zipfile.ZipFile(path) as archive:
                    count += len(archive.infolist())
            if not archives or count != expected_entries:
                raise RuntimeError(
                    f"{len(archives)} ZIP(s) with {count} entries, expected {expected_entries}"
                )
        finally:
            self._clear_outputs()

    def close(self) -> None:
        self.client.close()
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


# ---------------------------------------------------------------- running and reporting


DEFLATING = ("zip -r -6", "filegate deflate (POST→ready)")


def methods(
    dataset: Dataset, out_dir: Path, service: Filegate, in_process: bool, store_only: bool = False
) -> dict[str, Callable[[], Sample]]:
    table: dict[str, Callable[[], Sample]] = {
        "cat (ceiling)": lambda: measure_cat(dataset, out_dir),
        BASELINE: lambda: measure_zip(dataset, out_dir, 0),
        "zip -r -6": lambda: measure_zip(dataset, out_dir, 6),
        "filegate store (POST→ready)": lambda: service.build([dataset.name], "store"),
        "filegate deflate (POST→ready)": lambda: service.build([dataset.name], "deflate"),
        # The same store build split into parts of 1/8 of the data: what splitting costs.
        "filegate store, split in ~8": lambda: service.build(
            [dataset.name], "store", str(max(10 * MB, dataset.total_bytes // 8))
        ),
    }
    if in_process and in_process_available():
        table["builder store, in-process"] = lambda: measure_in_process(dataset, out_dir, "store")
    if store_only:
        for name in DEFLATING:
            del table[name]
    return table


WARM_UP = ("cat (ceiling)", BASELINE, "builder store, in-process")


def bench_dataset(
    dataset: Dataset,
    service: Filegate,
    out_dir: Path,
    repeat: int,
    in_process: bool,
    store_only: bool = False,
) -> list[Result]:
    runs = methods(dataset, out_dir, service, in_process, store_only)
    print(f"\n[{dataset.name}] warming up: every store-speed method once, untimed", flush=True)
    service.check_archive([dataset.name], len(dataset.files) + dataset.folders)
    for name, run in runs.items():
        # check_archive was filegate store's warm-up; the deflating methods are bound by the CPU
        # and read what the others have just brought into the page cache.
        if name in WARM_UP:
            run()
    results = {name: Result(name) for name in runs}
    for round_number in range(1, repeat + 1):
        for name, run in runs.items():
            # Outputs are deleted after each run, but other dirty pages (a freshly generated data
            # set, logs) would be written back while the next run is timed.
            os.sync()
            sample = run()
            results[name].samples.append(sample)
            rate = dataset.total_bytes / MB / sample.seconds
            print(f"  round {round_number}: {name:<32} {sample.seconds:8.2f} s {rate:9.1f} MB/s", flush=True)
    return list(results.values())


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / MB:,.1f}"


def _read_ratio(result: Result, source_bytes: int) -> str:
    """The most bytes read per source byte over the method's runs (filegate's builds only)."""
    most = result.max_of("read_bytes")
    return "" if most is None else f"{most / source_bytes:.3f}"


def format_table(dataset: Dataset, results: list[Result]) -> str:
    baseline = next(result for result in results if result.method == BASELINE)
    baseline_rate = dataset.total_bytes / baseline.best.seconds
    header = (
        "method",
        "best s",
        "median s",
        "MB/s",
        "vs zip -0",
        "output MB",
        "peak RSS MB",
        "RSS growth MB",
        "read/source",
        "all runs s",
    )
    rows: list[tuple[str, ...]] = [header]
    for result in results:
        best = result.best
        rate = dataset.total_bytes / best.seconds
        rows.append(
            (
                result.method,
                f"{best.seconds:.2f}",
                f"{result.median_seconds:.2f}",
                f"{rate / MB:,.0f}",
                f"{rate / baseline_rate:.2f}×",
                _mb(best.output_bytes),
                _mb(result.max_of("peak_rss")),
                _mb(result.max_of("rss_growth")),
                _read_ratio(result, dataset.total_bytes),
                " ".join(f"{sample.seconds:.2f}" for sample in result.samples),
            )
        )
    lines = table_lines(rows)
    title = (
        f"{dataset.name}: {len(dataset.files):,} files in {dataset.folders:,} folders, "
        f"{dataset.total_bytes / MB:,.1f} MB"
    )
    posts = [
        sample.post_seconds
        for result in results
        for sample in result.samples
        if sample.post_seconds is not None
    ]
    if posts:
        lines.append(
            f"(POST /download answered in {min(posts) * 1000:.0f}-{max(posts) * 1000:.0f} ms: "
            "snapshot, manifest into Redis, enqueue; it is part of POST→ready)"
        )
    return title + "\n" + "\n".join(lines)


def table_lines(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned text: the first is the header, underlined; the first column left-aligned,
    the others right-aligned."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def target_lines(dataset: Dataset, results: list[Result]) -> list[str]:
    by_name = {result.method: result for result in results}
    zip0 = by_name[BASELINE].best.seconds
    store = by_name["filegate store (POST→ready)"]
    ratio = zip0 / store.best.seconds
    wanted = 2.0 if dataset.name == "large" else 1.0
    lines = [
        f"{dataset.name}: store POST→ready at {ratio:.2f}× zip -0 (target ≥ {wanted:g}×): "
        + ("met" if ratio >= wanted else "MISSED"),
    ]
    # The data plane's targets: the large set at half the speed of cat by the median of the
    # runs, the small set at 1.3 times zip -r -0 (best against best, as every other ratio).
    if dataset.name == "large":
        share = by_name["cat (ceiling)"].median_seconds / store.median_seconds
        lines.append(
            f"large: store POST→ready at {share:.2f} of cat by the median of {len(store.samples)} "
            "(target ≥ 0.5): " + ("met" if share >= 0.5 else "MISSED")
        )
    else:
        lines.append(
            f"small: store POST→ready at {ratio:.2f}× zip -0 (target ≥ 1.3×): "
            + ("met" if ratio >= 1.3 else "MISSED")
        )
    for name in ("filegate store (POST→ready)", "filegate deflate (POST→ready)"):
        if name not in by_name:
            continue
        growth = by_name[name].max_of("rss_growth") or 0
        lines.append(
            f"{dataset.name}: {name} RSS growth {growth / MB:.1f} MB (target < 150 MB): "
            + ("met" if growth < 150 * MB else "MISSED")
        )
        read = by_name[name].max_of("read_bytes")
        if read is not None:
            share = read / dataset.total_bytes
            lines.append(
                f"{dataset.name}: {name} read {share:.3f} bytes per source byte (target ≤ 1.01): "
                + ("met" if share <= 1.01 else "MISSED")
            )
    return lines


def machine_summary() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    zip_version = subprocess.run(["zip", "-v"], capture_output=True, text=True).stdout.splitlines()
    version_line = next((line.strip() for line in zip_version if line.startswith("This is Zip")), "zip ?")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory / 2**30:.0f} GiB RAM; {platform.platform()}; "
        f"Python {platform.python_version()}; {version_line}; filegate {source_revision()}"
    )


def source_revision() -> str:
    """The commit measured, and whether src/ differs from it (read-only git calls)."""
    repo = BENCH_DIR.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "at an unknown commit"
    return f"at {commit}" + (" with uncommitted changes in src/" if changed else "")


def profile_in_process(dataset: Dataset, out_dir: Path, compression: str) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    sample = measure_in_process(dataset, out_dir, compression)
    profiler.disable()
    print(
        f"\ncProfile of snapshot + builder ({compression}) on {dataset.name}: {sample.seconds:.2f} s "
        "under the profiler; top 20 by own time"
    )
    pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(20)


class OtherLoad:
    """CPU time the rest of the machine used while the bench ran: on 2 cores, anyone else's
    build or test run shows up in the figures, so it is reported beside them."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._busy = self._system_busy()
        self._own = self._own_cpu()

    @staticmethod
    def _system_busy() -> float:
        with open("/proc/stat") as stat:
            user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in stat.readline().split()[1:8])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_cpu() -> float:
        # Children count once reaped: call report() after every service has been stopped.
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total

    def report(self) -> str:
        wall = time.monotonic() - self._wall
        other = max(0.0, (self._system_busy() - self._busy) - (self._own_cpu() - self._own))
        share = other / wall if wall else 0.0
        line = (
            f"Other processes (and the kernel) used {other:.1f} CPU-s during the {wall:.0f} s run "
            f"({share:.0%} of one core)"
        )
        if share > 0.10:
            line += ": something else was running, figures may be disturbed; run again on a quiet machine"
        return line + "."


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C does, so every finally (and cleanup) runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="~0.4 GB instead of ~2.2 GB, fewer small files")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method; the best counts (3)")
    parser.add_argument(
        "--pool", choices=["prefork", "solo"], default="prefork", help="Celery pool (prefork)"
    )
    parser.add_argument("--only", choices=["small", "large"], help="run one data set only")
    parser.add_argument(
        "--no-in-process", action="store_true", help="skip the builder called in this process"
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile the builder (store) in-process")
    parser.add_argument(
        "--store-only",
        action="store_true",
        help="skip zip -r -6 and filegate deflate (minutes on the large set): the store targets only",
    )
    args = parser.parse_args(argv)
    if shutil.which("zip") is None:
        print(
            "zip is missing: `bash scripts/ensure-tools.sh` installs it (apt-get install zip)",
            file=sys.stderr,
        )
        return 2
    if shutil.which("redis-server") is None:
        print("redis-server is missing: apt-get install redis-server", file=sys.stderr)
        return 2

    mode = "quick" if args.quick else "full"
    data_root = DATA_DIR / mode
    out_dir = DATA_DIR / "out"
    workdir = DATA_DIR / "run"
    data_root.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.rmtree(workdir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    workdir.mkdir(parents=True)

    specs = [spec for spec in dataset_specs(args.quick) if args.only in (None, spec.name)]
    datasets = [load_dataset(spec, data_root) for spec in specs]
    print(f"machine: {machine_summary()}")
    print(
        f"mode: {mode}; best of {args.repeat} after one warm-up round; Celery pool {args.pool}, concurrency 1"
    )

    tables: list[str] = []
    targets: list[str] = []
    report: dict[str, Any] = {
        "mode": mode,
        "repeat": args.repeat,
        "pool": args.pool,
        "machine": machine_summary(),
    }
    service = Filegate(data_root, out_dir, workdir, args.pool)
    others = OtherLoad()
    with terminate_cleanly():
        try:
            service.start()
            for dataset in datasets:
                results = bench_dataset(
                    dataset, service, out_dir, args.repeat, not args.no_in_process, args.store_only
                )
                tables.append(format_table(dataset, results))
                targets += target_lines(dataset, results)
                report[dataset.name] = {
                    "files": len(dataset.files),
                    "folders": dataset.folders,
                    "bytes": dataset.total_bytes,
                    "results": [
                        {"method": r.method, "samples": [asdict(s) for s in r.samples]} for r in results
                    ],
                }
                if args.profile:
                    profile_in_process(dataset, out_dir, "store")
        finally:
            service.close()
            shutil.rmtree(out_dir, ignore_errors=True)
    disturbance = others.report()

    print("\nMB = 10^6 bytes of source data; best of the timed runs; ratios against zip -r -0 of this run.")
    print(
        "Peak RSS: cat/zip ru_maxrss (via GNU time); filegate the building process's VmHWM (max over runs)."
    )
    print("RSS growth: VmHWM after minus VmRSS before the build (max over runs).\n")
    print("\n\n".join(tables))
    print("\nTargets:")
    for line in targets:
        print(f"  {line}")
    print(f"\n{disturbance}")
    report["other_load"] = disturbance
    (DATA_DIR / f"results-{mode}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
