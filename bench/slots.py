"""Slot utilisation: how busy filegate's dispatcher keeps the build slots, against strict FIFO.

    .venv/bin/python bench/slots.py                 # both modes on the same 50 tickets, ~2.5 min
    .venv/bin/python bench/slots.py --budget 1200   # the same shares of 1.2 GB: short builds, ~1 min
    .venv/bin/python bench/slots.py --help          # max wait, seed, sampling, logs, trace

Everything runs on 127.0.0.1: a private redis-server, the API (uvicorn), two build workers
(`-Q downloads`, prefork, concurrency 1 each) and a cleanup worker (`-Q cleanup`), with
FILEGATE_MAX_CONCURRENT_BUILDS=2 and FILEGATE_SPACE_BUDGET from --budget; no beat (a release
sends its own sweep). Auth is on, as in production: the admin token registers an app and every
call carries its API key; FILEGATE_RATE_DOWNLOADS is out of reach, so it is not what is measured.

The tickets: 50 selections of seeded sizes, as shares of the budget: 38 of 1.7-12.5 % (20-150 MB
of 1,200 MB), 8 of 35-45 % (one fits beside another or beside mediums) and 4 of 70-80 % (they
fit beside one medium build only), shuffled. Each selection lists consecutive files of a pool of
8 MiB files of random (incompressible) bytes, twice the budget in all, generated once under
bench/.data/slots/ and read once before the modes so that both find it in the page cache. All
50 POST /download (compression "store", expires_in "1 hour") go out back to back. Each ticket is
then followed as a real client does: its status stream (SSE) until `ready`, then GET result, the
first 64 KiB of its link (checked to be a ZIP) and DELETE, which releases the ticket: the
cleanup worker deletes its archive at once and the space goes back to the budget.

Two modes, each with fresh processes, a fresh Redis database and a fresh output folder, on the
same tickets: "filegate" (backfill, FILEGATE_MAX_WAIT from --max-wait) and "FIFO"
(FILEGATE_MAX_WAIT=0: the first build passed over for space has waited longer than 0 ms at
once, so nothing overtakes it: first in, first out).

Redis is read every ~10 ms by one read-only script: builds with status `building` among
`filegate:running`, how many are admitted (`SCARD filegate:running`), `ZCARD filegate:queue`,
the bytes held and reserved, and the smallest waiting estimate. The time work waits in the
queue is split into: both slots building; hand-off (both slots taken, one build not building:
sent to a worker that has not started it, or ended and not given its slot back yet); nothing
waiting fits the space (of which, shown apart as "archives held", the time only stored
archives stood in the way: ready ones their client has not released yet, or released ones the
cleanup worker is still deleting); and a slot free while a waiting build would fit (the
scheduler's own loss: FIFO's refusal to overtake, or a dispatch not run yet). Nothing is
asserted: the figures are printed for a person to read. A ticket that fails, is cancelled or
expires, or a mode that runs past --timeout, stops the bench with the services' logs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from run import (
    ADMIN_TOKEN,
    BENCH_DIR,
    DATA_DIR,
    MB,
    MIB,
    OtherLoad,
    free_port,
    machine_summary,
    source_revision,
    spawn_logged,
    stop_process,
    table_lines,
    terminate_cleanly,
    wait_until,
)

SLOTS_DIR = DATA_DIR / "slots"
FILE_SIZE = 8 * MIB
EXPIRES_IN = "1 hour"
FIRST_BYTES = 64 * 1024
SLOTS = 2
POOL_SEED = 20240611


# ---------------------------------------------------------------- tickets and data


@dataclass(frozen=True)
class Workload:
    """How many 8 MiB files each ticket holds, in request order. Sizes are shares of the budget:
    a large build fits beside another large one or mediums, a huge one beside one medium build
    only. With a 1,200 MB budget the mediums are 20-150 MB."""

    budget_mb: int
    medium: int = 38  # 1.7-12.5 % of the budget
    large: int = 8  # 35-45 %
    huge: int = 4  # 70-80 %
    seed: int = 20240611

    def files(self) -> list[int]:
        rng = random.Random(self.seed)
        shares = [rng.uniform(20 / 1200, 150 / 1200) for _ in range(self.medium)]
        shares += [rng.uniform(0.35, 0.45) for _ in range(self.large)]
        shares += [rng.uniform(0.70, 0.80) for _ in range(self.huge)]
        rng.shuffle(shares)
        return [max(1, int(share * self.budget_mb * MB) // FILE_SIZE) for share in shares]

    def sizes(self) -> list[int]:
        return [count * FILE_SIZE for count in self.files()]

    def paths(self) -> list[list[str]]:
        """Each ticket's files: consecutive files of the pool, where the previous ticket's ended."""
        pool, start, chosen = self.pool_files(), 0, []
        for count in self.files():
            chosen.append([pool_path((start + offset) % pool) for offset in range(count)])
            start = (start + count) % pool
        return chosen

    def pool_files(self) -> int:
        """The pool: twice the budget, so that the builds running at once read different files."""
        return max(max(self.files()), math.ceil(2 * self.budget_mb * MB / FILE_SIZE))

    def summary(self) -> str:
        sizes = self.sizes()
        huge_at = [index + 1 for index, size in enumerate(sizes) if size >= 0.7 * self.budget_mb * MB]
        low, high = self.budget_mb * 20 / 1200, self.budget_mb * 150 / 1200
        return (
            f"{len(sizes)} tickets, {sum(sizes) / MB:,.0f} MB: {self.medium} of {low:.0f}-{high:.0f} MB, "
            f"{self.large} of 35-45 % and {self.huge} of 70-80 % of the budget (requests {huge_at}); "
            f"budget {self.budget_mb:,} MB; random data, compression store; expires_in {EXPIRES_IN}"
        )


def pool_path(index: int) -> str:
    return f"pool/f{index:05d}.bin"


def ensure_pool(count: int) -> Path:
    """bench/.data/slots/files/pool/ with at least ``count`` files of 8 MiB of random bytes; files
    are a function of their index, so a larger pool only adds the files missing."""
    root = SLOTS_DIR / "files"
    params_file = SLOTS_DIR / "files.params.json"
    wanted = json.dumps({"file_size": FILE_SIZE, "seed": POOL_SEED, "version": 1}, sort_keys=True)
    if not params_file.is_file() or params_file.read_text() != wanted:
        shutil.rmtree(root, ignore_errors=True)
        (root / "pool").mkdir(parents=True)
        params_file.write_text(wanted)
    missing = [index for index in range(count) if not (root / pool_path(index)).is_file()]
    if missing:
        print(f"generating {len(missing) * FILE_SIZE / MB:,.0f} MB of data in {root} ...", flush=True)
        started = time.perf_counter()
        block = random.Random(POOL_SEED).randbytes(FILE_SIZE + MIB)
        for index in missing:
            offset = index * 7919 % MIB  # no two files alike (7919 is prime to 2^20)
            partial = root / f"{pool_path(index)}.partial"
            partial.write_bytes(block[offset : offset + FILE_SIZE])
            partial.rename(root / pool_path(index))  # never a short file under the final name
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return root


def read_all(root: Path, count: int) -> None:
    """Read every source once, so that both modes start from the same warm page cache."""
    for index in range(count):
        with (root / pool_path(index)).open("rb") as source:
            while source.read(16 * MIB):
                pass


# ---------------------------------------------------------------- the service


class Deployment:
    """One mode's processes, sharing ``env``; all stopped by ``close``."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        self.base_url = f"http://127.0.0.1:{env['FILEGATE_PORT']}"

    def spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        process = spawn_logged(args, self.workdir / log_name, self.env, self.workdir)
        self.processes.append(process)
        return process

    def wait_until(self, ready: Callable[[], bool], process: subprocess.Popen[bytes], log_name: str) -> None:
        wait_until(ready, process, self.workdir / log_name)

    def tail(self, log_name: str, chars: int = 3000) -> str:
        path = self.workdir / log_name
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def start_worker(self, queue: str, name: str) -> None:
        args = [sys.executable, "-m", "celery", "-A", "filegate.worker", "worker", "-Q", queue]
        args += ["--pool", "prefork", "--concurrency", "1", "--without-mingle", "--without-gossip"]
        args += ["-l", "INFO", "-n", f"{name}@%h"]
        log_name = f"{name}.log"
        process = self.spawn(args, log_name)
        self.wait_until(lambda: b" ready." in (self.workdir / log_name).read_bytes(), process, log_name)

    def start(self, build_workers: int) -> str:
        """Start everything; returns the API key of an app registered for the bench."""
        for number in range(1, build_workers + 1):
            self.start_worker("downloads", f"build{number}")
        self.start_worker("cleanup", "cleanup")
        api_args = [sys.executable, "-m", "uvicorn", "filegate.app:create_app", "--factory", "--host"]
        api_args += ["127.0.0.1", "--port", self.env["FILEGATE_PORT"], "--log-level", "warning"]
        api = self.spawn(api_args, "api.log")

        def api_healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200
            return False

        self.wait_until(api_healthy, api, "api.log")
        # As clients in production do: an app registered by the admin, calling with its key.
        created = httpx.post(
            f"{self.base_url}/apps",
            json={"name": "bench-slots", "scopes": ["/"]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /apps answered {created.status_code}: {created.text}")
        api_key: str = created.json()["api_key"]
        return api_key

    def logs(self) -> str:
        names = sorted(path.name for path in self.workdir.glob("*.log"))
        return "\n".join(f"---- {name} (end)\n{self.tail(name, 2000)}" for name in names)

    def close(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (workdir / "redis.log").open("ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return process, port
            time.sleep(0.05)
    finally:
        client.close()
    stop_process(process)
    raise RuntimeError(f"redis-server did not start:\n{(workdir / 'redis.log').read_text()[-3000:]}")


def mode_env(redis_url: str, root: Path, out_dir: Path, budget: int, max_wait: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FILEGATE_")}
    env.update(
        {
            "FILEGATE_REDIS_URL": redis_url,
            "FILEGATE_PORT": str(free_port()),
            "FILEGATE_LOCAL_ROOT": str(root),
            "FILEGATE_OUTPUT_DIR": str(out_dir),
            "FILEGATE_SIGNING_SECRET": "bench-signing-secret",
            "FILEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "FILEGATE_MAX_CONCURRENT_BUILDS": str(SLOTS),
            "FILEGATE_SPACE_BUDGET": str(budget),
            "FILEGATE_MAX_WAIT": str(max_wait),
            # Measured here: the scheduling, not the rate limit.
            "FILEGATE_RATE_DOWNLOADS": "1000000/minute",
        }
    )
    return env


# ---------------------------------------------------------------- sampling Redis

# Reads only (EVAL_RO). Returns building, admitted (members of filegate:running), queued, held,
# reserved, the smallest queued estimate (-1: none), then the ids of the admitted builds.
SAMPLE_SCRIPT = """
local p = 'filegate:'
local running = redis.call('SMEMBERS', p .. 'running')
local building = 0
for _, id in ipairs(running) do
  if redis.call('HGET', p .. 'build:' .. id, 'status') == 'building' then building = building + 1 end
end
local queued = redis.call('ZRANGE', p .. 'queue', 0, -1)
local smallest = -1
for _, id in ipairs(queued) do
  local estimate = tonumber(redis.call('HGET', p .. 'build:' .. id, 'estimate') or '0')
  if smallest < 0 or estimate < smallest then smallest = estimate end
end
local held = tonumber(redis.call('GET', p .. 'space:held') or '0')
local reserved = tonumber(redis.call('GET', p .. 'space:reserved') or '0')
local reply = {building, #running, #queued, held, reserved, smallest}
for _, id in ipairs(running) do table.insert(reply, id) end
return reply
"""


@dataclass(frozen=True, slots=True)
class State:
    at: float  # perf_counter
    building: int
    admitted: int
    queued: int
    fits: bool  # the smallest waiting build fits the budget now
    fits_but_held: bool  # it would fit but for stored archives (not released yet, or being deleted)


@dataclass
class Sampler:
    """Reads Redis every ``interval`` seconds on a thread of its own until stopped."""

    client: redis.Redis
    budget: int
    interval: float
    states: list[State] = field(default_factory=list)
    first_admitted: dict[str, float] = field(default_factory=dict)  # build id → first seen running
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._sha = self.client.script_load(SAMPLE_SCRIPT)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.error is not None:
            raise RuntimeError("sampling Redis failed") from self.error

    def _loop(self) -> None:
        next_at = time.perf_counter()
        try:
            while not self._stop.is_set():
                self._sample()
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _sample(self) -> None:
        at = time.perf_counter()
        reply = self.client.evalsha_ro(self._sha, 0)
        building, admitted, queued, held, reserved, smallest = (int(value) for value in reply[:6])
        fits = queued > 0 and held + reserved + smallest <= self.budget
        fits_but_held = queued > 0 and not fits and reserved + smallest <= self.budget
        self.states.append(State(at, building, admitted, queued, fits, fits_but_held))
        for build_id in reply[6:]:
            self.first_admitted.setdefault(build_id.decode(), at)


# ---------------------------------------------------------------- the clients


class TicketFailed(Exception):
    """A ticket ended otherwise than ready, or an answer was not what a client expects."""


@dataclass
class Tickets:
    """What the clients saw, by request order (perf_counter times)."""

    ids: list[str] = field(default_factory=list)
    posted_at: list[float] = field(default_factory=list)
    ready_at: dict[int, float] = field(default_factory=dict)
    released_at: dict[int, float] = field(default_factory=dict)


async def follow_until_final(http: httpx.AsyncClient, ticket_id: str) -> dict[str, Any]:
    """Read the ticket's status stream (SSE) until a final status; returns its data."""
    event = ""
    async with http.stream("GET", f"/ticket/{ticket_id}/status") as response:
        if response.status_code != 200:
            await response.aread()
            raise TicketFailed(f"status of {ticket_id} answered {response.status_code}: {response.text}")
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event == "status":
                data: dict[str, Any] = json.loads(line.removeprefix("data:"))
                if data["status"] in ("ready", "failed", "cancelled", "expired"):
                    return data
    raise TicketFailed(f"the status stream of {ticket_id} ended before a final status")


async def download_and_release(http: httpx.AsyncClient, ticket_id: str) -> None:
    """What a client does once ready: fetch the link, start the download, release the ticket."""
    result = await http.get(f"/ticket/{ticket_id}/result")
    if result.status_code != 200:
        raise TicketFailed(f"result of {ticket_id} answered {result.status_code}: {result.text}")
    url = result.json()["parts"][0]["url"]
    head = await http.get(url, headers={"Range": f"bytes=0-{FIRST_BYTES - 1}"})
    if head.status_code != 206 or not head.content.startswith(b"PK\x03\x04"):
        raise TicketFailed(f"the link of {ticket_id} answered {head.status_code}, {head.content[:8]!r}")
    released = await http.delete(f"/ticket/{ticket_id}")
    if released.status_code != 200 or released.json()["status"] != "expired":
        raise TicketFailed(f"DELETE {ticket_id} answered {released.status_code}: {released.text}")


async def submit_and_follow(base_url: str, api_key: str, paths: list[list[str]], tickets: Tickets) -> None:
    """POST every ticket back to back, each followed by its own client as soon as it is posted."""
    limits = httpx.Limits(max_connections=3 * len(paths), max_keepalive_connections=3 * len(paths))
    # Streams stay open while their build waits: no read timeout (the caller bounds the whole run).
    timeout = httpx.Timeout(60, read=None)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=timeout) as http,
        asyncio.TaskGroup() as group,
    ):

        async def client(index: int, ticket_id: str) -> None:
            final = await follow_until_final(http, ticket_id)
            if final["status"] != "ready":
                raise TicketFailed(f"ticket t{index:02d} ({ticket_id}) ended {final}")
            tickets.ready_at[index] = time.perf_counter()
            await download_and_release(http, ticket_id)
            tickets.released_at[index] = time.perf_counter()

        for index, selection in enumerate(paths):
            body = {"paths": selection, "name": f"t{index:02d}", "compression": "store"}
            tickets.posted_at.append(time.perf_counter())
            answer = await http.post("/download", json={**body, "expires_in": EXPIRES_IN})
            if answer.status_code != 202:
                raise TicketFailed(
                    f"POST /download t{index:02d} answered {answer.status_code}: {answer.text}"
                )
            tickets.ids.append(answer.json()["ticket_id"])
            group.create_task(client(index, tickets.ids[-1]))


# ---------------------------------------------------------------- one mode


class ModeLoad:
    """CPU that processes other than this bench's used during one mode (the kernel's writeback
    included): on two cores, someone else's test run shows up in the figures. The redis-server
    both modes share is left out by hand: it is not reaped, so not counted as a child, until the
    end."""

    def __init__(self, redis_pid: int) -> None:
        self._redis_pid = redis_pid
        self._wall = time.monotonic()
        self._busy = OtherLoad._system_busy()
        self._own = OtherLoad._own_cpu() + self._redis_cpu()

    def _redis_cpu(self) -> float:
        with open(f"/proc/{self._redis_pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def share(self) -> float:
        """Of one core, since the start; call it once the mode's services are stopped and reaped."""
        wall = time.monotonic() - self._wall
        own = OtherLoad._own_cpu() + self._redis_cpu() - self._own
        return max(0.0, OtherLoad._system_busy() - self._busy - own) / wall if wall else 0.0


@dataclass
class ModeResult:
    mode: str
    total_seconds: float
    waiting_seconds: float
    both_while_waiting: float
    handoff_while_waiting: float
    no_fit_while_waiting: float
    held_while_waiting: float  # part of no_fit: only stored archives stood in the way
    fit_idle_while_waiting: float
    mean_building: float
    ahead: int
    longest_wait: float
    release_ms: float  # median, from the status stream's ready to DELETE answered
    other_cpu: float = 0.0  # share of one core used by other processes during the mode


def summarise(mode: str, sampler: Sampler, tickets: Tickets, build_ids: list[str]) -> ModeResult:
    started, end = tickets.posted_at[0], max(tickets.ready_at.values())
    waiting = both_waiting = handoff = no_fit = held = fit_idle = building_time = 0.0
    for state, following in itertools.pairwise(sampler.states):
        if following.at <= started or state.at >= end:
            continue
        span = min(following.at, end) - max(state.at, started)
        building_time += state.building * span
        if state.queued == 0:
            continue
        waiting += span
        if state.building >= SLOTS:
            both_waiting += span
        elif state.admitted >= SLOTS:
            handoff += span  # the slot is taken: a worker has yet to start (or to end) its build
        elif state.fits:
            fit_idle += span
        else:
            no_fit += span
            held += span if state.fits_but_held else 0.0
    total = end - started
    # When each request's build was first seen admitted; a build too short to be sampled
    # while admitted (under one interval) counts from its ticket's ready.
    admitted = [
        sampler.first_admitted.get(build_id, tickets.ready_at[index])
        for index, build_id in enumerate(build_ids)
    ]
    # Admitted while a build requested before it still waited.
    ahead = sum(
        any(admitted[earlier] > admitted[index] for earlier in range(index)) for index in range(len(admitted))
    )
    releases = [tickets.released_at[index] - tickets.ready_at[index] for index in tickets.released_at]

    def share(part: float) -> float:
        return part / waiting if waiting else 0.0

    return ModeResult(
        mode=mode,
        total_seconds=total,
        waiting_seconds=waiting,
        both_while_waiting=share(both_waiting),
        handoff_while_waiting=share(handoff),
        no_fit_while_waiting=share(no_fit),
        held_while_waiting=share(held),
        fit_idle_while_waiting=share(fit_idle),
        mean_building=building_time / total,
        ahead=ahead,
        longest_wait=max(at - posted for at, posted in zip(admitted, tickets.posted_at, strict=True)),
        release_ms=statistics.median(releases) * 1000,
    )


@dataclass(frozen=True)
class Run:
    """What every mode shares."""

    workload: Workload
    root: Path
    scratch: Path
    redis_port: int
    redis_pid: int
    args: argparse.Namespace


def run_mode(mode: str, max_wait: int, db: int, run: Run) -> ModeResult:
    workdir = Path(tempfile.mkdtemp(prefix=f"{mode.lower()}-", dir=run.scratch))
    paths = run.workload.paths()
    count = len(paths)
    budget = run.workload.budget_mb * MB
    client = redis.Redis(port=run.redis_port, db=db)
    client.flushdb()
    env = mode_env(
        f"redis://127.0.0.1:{run.redis_port}/{db}", run.root, workdir / "archives", budget, max_wait
    )
    deployment = Deployment(workdir, env)
    sampler = Sampler(client, budget, run.args.interval)
    tickets = Tickets()
    print(f"\n[{mode}] FILEGATE_MAX_WAIT={max_wait}: redis db {db}, API, workers", flush=True)
    load = ModeLoad(run.redis_pid)
    try:
        api_key = deployment.start(run.args.workers)
        os.sync()  # earlier writes are not flushed while this mode is measured
        sampler.start()
        try:
            asyncio.run(
                asyncio.wait_for(
                    submit_and_follow(deployment.base_url, api_key, paths, tickets), run.args.timeout
                )
            )
        except (TicketFailed, ExceptionGroup, TimeoutError) as exc:
            raise RuntimeError(failure_report(mode, exc, tickets, client, deployment)) from exc
        finally:
            sampler.stop()
        build_ids = [
            str(client.hget(f"filegate:ticket:{ticket_id}", "build_id"), "ascii") for ticket_id in tickets.ids
        ]
        result = summarise(mode, sampler, tickets, build_ids)
        if run.args.trace is not None:
            write_trace(run.args.trace / f"{mode}.json", sampler, tickets, build_ids, run.workload.sizes())
        unseen = sum(build_id not in sampler.first_admitted for build_id in build_ids)
        print(
            f"  {len(tickets.ready_at)} of {count} ready and released; last ready after "
            f"{result.total_seconds:.1f} s"
            + (f"; {unseen} builds never sampled while admitted" if unseen else ""),
            flush=True,
        )
    finally:
        deployment.close()
        client.close()
        if run.args.logs is not None:
            kept = run.args.logs / mode
            kept.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                shutil.copy(log, kept / log.name)
        shutil.rmtree(workdir, ignore_errors=True)
    result.other_cpu = load.share()
    return result


def write_trace(
    path: Path, sampler: Sampler, tickets: Tickets, build_ids: list[str], sizes: list[int]
) -> None:
    """Every sample and every ticket's times, in seconds from the first POST, for a closer look."""
    zero = tickets.posted_at[0]
    states = [[round(state.at - zero, 4), *list(asdict(state).values())[1:]] for state in sampler.states]
    ticket_rows = [
        {
            "request": index + 1,  # as in the setup line (the archive is named t<index>)
            "mb": sizes[index] / MB,
            "posted": tickets.posted_at[index] - zero,
            "admitted": sampler.first_admitted[build_id] - zero
            if build_id in sampler.first_admitted
            else None,
            "ready": tickets.ready_at[index] - zero,
            "released": tickets.released_at[index] - zero,
        }
        for index, build_id in enumerate(build_ids)
    ]
    fields = ["at", *list(asdict(sampler.states[0]))[1:]] if sampler.states else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state_fields": fields, "states": states, "tickets": ticket_rows}))


def failure_report(
    mode: str, exc: BaseException, tickets: Tickets, client: redis.Redis, deployment: Deployment
) -> str:
    problems = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    lines = [f"[{mode}] stopped: {len(tickets.ready_at)} of {len(tickets.ids)} posted tickets ready"]
    lines += [
        f"  {type(problem).__name__}: {problem or 'not every ticket was ready within --timeout'}"
        for problem in problems[:5]
    ]
    waiting = [index for index in range(len(tickets.ids)) if index not in tickets.ready_at]
    for index in waiting[:3]:
        ticket = client.hgetall(f"filegate:ticket:{tickets.ids[index]}")
        build_id = ticket.get(b"build_id", b"").decode()
        build = client.hgetall(f"filegate:build:{build_id}") if build_id else {}
        shown = {key.decode(): value.decode()[:200] for key, value in {**ticket, **build}.items()}
        lines.append(f"  ticket t{index:02d}: {shown}")
    return "\n".join(lines) + "\n" + deployment.logs()


# ---------------------------------------------------------------- report


def format_table(results: list[ModeResult]) -> str:
    header = (
        "mode",
        "total s",
        "work waiting s",
        "both busy",
        "hand-off",
        "nothing fits",
        "(archives held)",
        "fits, slot free",
        "mean building",
        "admitted ahead",
        "longest wait s",
        "release ms",
        "other CPU",
    )
    rows: list[tuple[str, ...]] = [header]
    for result in results:
        rows.append(
            (
                result.mode,
                f"{result.total_seconds:.1f}",
                f"{result.waiting_seconds:.1f}",
                f"{result.both_while_waiting:.1%}",
                f"{result.handoff_while_waiting:.1%}",
                f"{result.no_fit_while_waiting:.1%}",
                f"{result.held_while_waiting:.1%}",
                f"{result.fit_idle_while_waiting:.1%}",
                f"{result.mean_building:.2f}",
                str(result.ahead),
                f"{result.longest_wait:.1f}",
                f"{result.release_ms:.0f}",
                f"{result.other_cpu:.0%}",
            )
        )
    return "\n".join(table_lines(rows))


def imported_filegate() -> str:
    """Which filegate the services import: this checkout (and its revision), or the one that
    PYTHONPATH points at."""
    found = subprocess.run(
        [sys.executable, "-c", "import filegate; print(filegate.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    package = Path(found.stdout.strip()).parent
    if package == BENCH_DIR.parent / "src" / "filegate":
        return f"this checkout, {source_revision()}"
    return f"from {package}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--budget", type=int, default=4800, help="FILEGATE_SPACE_BUDGET in MB; sizes follow it (4800)"
    )
    parser.add_argument(
        "--max-wait", type=int, default=60, help="FILEGATE_MAX_WAIT of filegate's mode, s (60)"
    )
    parser.add_argument("--fifo-first", action="store_true", help="run FIFO before filegate")
    parser.add_argument("--seed", type=int, default=20240611, help="sizes and their order (20240611)")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between samples (0.01)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a mode may take (600)")
    parser.add_argument("--workers", type=int, default=2, help="build workers, concurrency 1 each (2)")
    parser.add_argument("--logs", type=Path, help="copy each mode's service logs into LOGS/<mode>/")
    parser.add_argument("--trace", type=Path, help="write each mode's samples into TRACE/<mode>.json")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is missing: apt-get install redis-server", file=sys.stderr)
        return 2

    workload = Workload(budget_mb=args.budget, seed=args.seed)
    setup = (
        f"setup: {workload.summary()}; {SLOTS} slots, {args.workers} build workers × concurrency 1, "
        f"1 cleanup worker; filegate FILEGATE_MAX_WAIT={args.max_wait} s, FIFO FILEGATE_MAX_WAIT=0; "
        f"Redis sampled every {args.interval * 1000:.0f} ms"
    )
    print(f"machine: {machine_summary().rsplit('; This is Zip', 1)[0]}")
    print(f"filegate: {imported_filegate()}")
    print(setup, flush=True)
    SLOTS_DIR.mkdir(parents=True, exist_ok=True)
    root = ensure_pool(workload.pool_files())
    started = time.perf_counter()
    read_all(root, workload.pool_files())
    print(f"read every source once in {time.perf_counter() - started:.1f} s (warm page cache)", flush=True)
    results: list[ModeResult] = []
    with terminate_cleanly(), tempfile.TemporaryDirectory(prefix="run-", dir=SLOTS_DIR) as scratch:
        redis_server, redis_port = start_redis(Path(scratch))
        try:
            run = Run(workload, root, Path(scratch), redis_port, redis_server.pid, args)
            modes = [("filegate", args.max_wait), ("FIFO", 0)]
            for db, (mode, max_wait) in enumerate(modes[:: -1 if args.fifo_first else 1], start=1):
                results.append(run_mode(mode, max_wait, db, run))
        finally:
            stop_process(redis_server)

    print(f"\n{setup}")
    print(
        "Total: first POST to last ready. Five columns split the time work waited in the queue "
        "(they add up to 100 %; '(archives held)' is part of 'nothing fits'). Mean building: over the "
        "total. Release: ready seen to DELETE answered, median. Other CPU: other processes and the "
        "kernel, share of one core.\n"
    )
    print(format_table(results))
    filegate, fifo = sorted(results, key=lambda result: result.mode != "filegate")
    # The dispatcher's own share: the time nothing waiting fitted the space left out.
    when_fits = filegate.both_while_waiting / max(1e-9, 1 - filegate.no_fit_while_waiting)
    print(
        f"\nFIFO total / filegate total: {fifo.total_seconds / filegate.total_seconds:.2f}×; both slots "
        f"building while work waited, filegate: {filegate.both_while_waiting:.1%} (target ≥ 90 %): "
        + ("met" if filegate.both_while_waiting >= 0.9 else "MISSED")
        + f"; {when_fits:.1%} of the time a waiting build fitted"
    )
    if any(result.other_cpu > 0.10 for result in results):
        print("Other processes used over 10 % of a core in a mode: figures may be disturbed; run again.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
