"""Which deflate implementation ZIP entries should use: stdlib zlib, isal (ISA-L) or zlib-ng.

Info-ZIP's ``zip`` command (levels 1 and 6) runs on the same inputs, as a reference point.

    .venv/bin/python bench/deflate.py            # 3 x 200 MB inputs; about 3 minutes
    .venv/bin/python bench/deflate.py --quick    # 3 x 32 MB; under a minute

isal and zlib-ng are not dependencies of filegate: `.venv/bin/pip install isal zlib-ng` first
(a library that is missing is left out of the tables).

Three inputs are generated under bench/.data/ (and reused while their size stays the same):
"text" (synthetic log lines, CSV rows and the standard library's own Python source, in turns),
"random" (incompressible bytes) and "office" (segments of 4-256 KiB: half of the bytes random
like embedded images, the rest XML-like text and fixed-size binary records).

Each library/level streams each input through one raw-deflate compressobj (wbits -15) in 1 MiB
chunks, as filegate's ZipWriter does. MB/s is MB (10^6 bytes) of input per CPU second of the
compressing thread, the least of --repeat runs (wall-clock MB/s is shown too: it is lower when
another process took part of the core). Every output is inflated again with the standard
library's ``zlib.decompressobj(-15)`` and compared with the input, and a small ZIP made by
filegate's own ZipWriter with that library swapped in is checked with zipfile and Info-ZIP
``unzip -t``. The library and level filegate itself deflates with (the module its zipwriter
imports, at ``filegate.archive.deflate.DEFLATE_LEVEL``) are printed and marked in the table.

``zip -q -1`` / ``zip -q -6 out.zip input`` run on each input's cached file under bench/.data/
(read once before timing, so it is in the page cache), writing a fresh archive each run that is
deleted afterwards. Its MB/s is MB of input per wall second of the whole command (process start,
reading the file, CRC-32, deflate, writing the archive), the least of --repeat runs; its ratio is
the input size over the entry's ``compress_size`` as zipfile reads it, and the entry is read back
with zipfile and compared with the input. zip is single-threaded.

Then: CRC-32 speed per library; whether compress and crc32 release the GIL (two threads against
one, each doing the same total work: needs both cores free to mean anything); the cost and the
verdicts of a "compressible?" probe (deflating 64 KiB at a fast level, at 200 random offsets of
each input, standing for the first 64 KiB of 200 files of that kind); and what a compressor
costs per entry.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import sysconfig
import threading
import time
import types
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from unittest import mock

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
MB = 1_000_000
KIB = 1024
MIB = 1024 * KIB
CHUNK = MIB
PROBE_SIZE = 64 * KIB
DATA_VERSION = 2
# zipwriter's _ZIP64_THRESHOLD leaves 1/1024 of 4 GiB for deflate's growth of an entry that is
# listed below 4 GiB: an implementation that grows incompressible data by more than this many
# bytes per MiB can push such an entry past 4 GiB, where ZipWriter raises.
ZIP64_MARGIN_PER_MIB = MIB >> 10


class Compressor(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    compressobj: Callable[[int, int, int], Compressor]
    crc32: Callable[[bytes | memoryview, int], int]
    fastest: int  # the level a "compressible?" probe uses


@dataclass(frozen=True)
class Config:
    library: Library
    level: int

    @property
    def label(self) -> str:
        return f"{self.library.name} {self.level}"


@dataclass(frozen=True)
class ZipCommand:
    """Info-ZIP's ``zip -q -<level> out.zip input``, timed as a whole process."""

    path: str
    level: int

    @property
    def label(self) -> str:
        return f"zip -{self.level}"


@dataclass
class Result:
    input: str
    config: Config | ZipCommand
    size: int
    compressed: int
    seconds: float  # wall seconds of the run with the least CPU time (zip: the least wall time)
    cpu: float  # the compressing thread's CPU seconds in that run (zip: the process's user + system)
    verified: bool
    method: str = "deflate"  # zip: how the entry was stored (zip stores what deflate does not shrink)

    @property
    def mb_s(self) -> float:
        """MB of input per CPU second: what one core does, whatever else shares the machine.

        For zip, MB of input per wall second of the whole command, as it would be run.
        """
        if isinstance(self.config, ZipCommand):
            return self.wall_mb_s
        return self.size / MB / self.cpu

    @property
    def wall_mb_s(self) -> float:
        return self.size / MB / self.seconds

    @property
    def ratio(self) -> float:
        return self.size / self.compressed


def load_libraries() -> list[Library]:
    libraries = [
        Library(
            "zlib",
            zlib.ZLIB_RUNTIME_VERSION,
            lambda level, method, wbits: zlib.compressobj(level, method, wbits),
            zlib.crc32,
            1,
        )
    ]
    try:
        import isal
        from isal import isal_zlib
    except ImportError:
        print("isal is not installed: left out (.venv/bin/pip install isal)", file=sys.stderr)
    else:
        libraries.append(
            Library(
                "isal",
                f"python-isal {isal.__version__}, ISA-L {isal.ISAL_VERSION}",
                lambda level, method, wbits: isal_zlib.compressobj(level, method, wbits),
                isal_zlib.crc32,
                0,
            )
        )
    try:
        import zlib_ng as zlib_ng_package
        from zlib_ng import zlib_ng
    except ImportError:
        print("zlib-ng is not installed: left out (.venv/bin/pip install zlib-ng)", file=sys.stderr)
    else:
        libraries.append(
            Library(
                "zlib-ng",
                f"python-zlib-ng {zlib_ng_package.__version__}, zlib-ng {zlib_ng.ZLIBNG_VERSION}",
                lambda level, method, wbits: zlib_ng.compressobj(level, method, wbits),
                zlib_ng.crc32,
                1,
            )
        )
    return libraries


LEVELS = {"zlib": (1, 6, 9), "zlib-ng": (1, 6), "isal": (0, 1, 2)}
REFERENCE = ("zlib", 6)
ZIP_LEVELS = (1, 6)


# ---------------------------------------------------------------- inputs

_WORDS: tuple[str, ...] = ("download", "archive", "ticket", "worker", "storage", "bucket", "manifest")
_WORDS += ("stream", "request", "response", "folder", "report", "invoice", "budget", "draft", "final")
_WORDS += ("summary", "meeting", "notes", "project", "quarter", "region", "customer", "order", "payment")
_LOGGERS = ("filegate.api", "filegate.worker", "uvicorn.access", "celery.app.trace", "filegate.storage")
_LOG_LEVELS = ("INFO", "INFO", "INFO", "INFO", "DEBUG", "WARNING", "ERROR")
_PATHS = ("/download", "/ticket/{}/status", "/ticket/{}/result", "/ticket/{}/events", "/healthz")
_COUNTRIES = ("DE", "FR", "NL", "US", "GB", "SE", "PL", "IT", "ES", "JP")


def _log_lines(rng: random.Random, size: int) -> bytes:
    lines: list[str] = []
    total = 0
    moment = 1_760_000_000.0
    while total < size:
        moment += rng.expovariate(50.0)
        ticket = rng.getrandbits(64)
        path = rng.choice(_PATHS).format(f"{ticket:016x}")
        line = (
            f"{datetime.fromtimestamp(moment, UTC).isoformat(timespec='milliseconds')} "
            f"{rng.choice(_LOG_LEVELS):<7} [{rng.choice(_LOGGERS)}] pid={rng.randint(1000, 1063)} "
            f'{rng.randint(10, 250)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)} "'
            f'{rng.choice(("GET", "GET", "GET", "POST"))} {path} HTTP/1.1" '
            f"{rng.choice((200, 200, 200, 202, 304, 404, 412))} {rng.randint(0, 2_000_000)} "
            f"{rng.lognormvariate(2.0, 1.0):.2f}ms request_id={rng.getrandbits(128):032x}\n"
        )
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def _csv_rows(rng: random.Random, size: int) -> bytes:
    rows = ["order_id,date,customer,country,sku,quantity,unit_price,currency,status,note\n"]
    total = len(rows[0])
    order = 100_000
    while total < size:
        order += rng.randint(1, 3)
        row = (
            f"{order},2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
            f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()} GmbH,{rng.choice(_COUNTRIES)},"
            f"SKU-{rng.randint(0, 99_999):05d},{rng.randint(1, 40)},{rng.uniform(0.5, 900):.2f},EUR,"
            f"{rng.choice(('shipped', 'pending', 'refunded', 'cancelled'))},"
            f'"{" ".join(rng.choices(_WORDS, k=rng.randint(0, 8)))}"\n'
        )
        rows.append(row)
        total += len(row)
    return "".join(rows).encode()


def _python_source() -> bytes:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
    source = b"".join(p.read_bytes() for p in files)
    if len(source) < 4 * MIB:
        raise SystemExit(f"found only {len(source)} bytes of Python source under {stdlib}")
    return source


def _cycle(source: bytes, offset: int, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        offset %= len(source)
        out += source[offset : offset + size - len(out)]
        offset += size
    return bytes(out)


def make_text(rng: random.Random, size: int) -> bytes:
    """Log lines, CSV rows and Python source in 4 MiB turns."""
    source = _python_source()
    parts: list[bytes] = []
    total = 0
    turn = 0
    while total < size:
        part_size = min(4 * MIB, size - total)
        kind = turn % 3
        if kind == 0:
            part = _log_lines(rng, part_size)[:part_size]
        elif kind == 1:
            part = _csv_rows(rng, part_size)[:part_size]
        else:
            part = _cycle(source, turn * 4 * MIB, part_size)
        parts.append(part)
        total += len(part)
        turn += 1
    return b"".join(parts)


def _records(rng: random.Random, size: int) -> bytes:
    """Fixed-size binary records (ids counting up, small ints, doubles), like a spreadsheet's cells."""
    record = struct.Struct("<IHHdI")
    count = size // record.size + 1
    row = rng.randint(0, 10_000)
    out = bytearray()
    for _ in range(count):
        row += 1
        out += record.pack(
            row, rng.randint(0, 30), rng.choice((0, 0, 1, 5)), round(rng.uniform(0, 1e4), 2), 0
        )
    return bytes(out[:size])


def make_office(rng: random.Random, size: int, text: bytes) -> bytes:
    """Half random bytes (embedded images), the rest XML-like text and binary records, 4-256 KiB at a time."""
    parts: list[bytes] = []
    total = 0
    while total < size:
        part_size = min(rng.randint(4 * KIB, 256 * KIB), size - total)
        pick = rng.random()
        if pick < 0.5:
            part = rng.randbytes(part_size)
        elif pick < 0.8:
            start = rng.randrange(0, len(text) - part_size)
            words = text[start : start + part_size].split(b" ")
            part = b"".join(b'<w:r><w:t xml:space="preserve">' + w + b"</w:t></w:r>" for w in words)
            part = part[:part_size]
        else:
            part = _records(rng, part_size)
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def input_path(name: str, size: int) -> Path:
    """The file an input is cached in, and that zip compresses."""
    return DATA_DIR / f"deflate-{name}-{size}-v{DATA_VERSION}.bin"


def load_inputs(size: int) -> dict[str, bytes]:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, bytes] = {}
    makers: dict[str, Callable[[random.Random], bytes]] = {
        "text": lambda rng: make_text(rng, size),
        "random": lambda rng: rng.randbytes(size),
        "office": lambda rng: make_office(rng, size, inputs["text"]),
    }
    for seed, (name, maker) in enumerate(makers.items()):
        path = input_path(name, size)
        if path.exists() and path.stat().st_size == size:
            inputs[name] = path.read_bytes()
            continue
        started = time.perf_counter()
        data = maker(random.Random(seed))
        assert len(data) == size, (name, len(data))
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        inputs[name] = data
    return inputs


# ---------------------------------------------------------------- compression


def chunks(data: bytes, size: int = CHUNK) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def stream(config: Config, data: bytes) -> tuple[list[bytes], float, float]:
    """One compressobj fed in 1 MiB chunks; the output pieces, wall seconds and thread CPU seconds."""
    out: list[bytes] = []
    cpu = time.thread_time()
    started = time.perf_counter()
    compressor = config.library.compressobj(config.level, zlib.DEFLATED, -15)
    for chunk in chunks(data):
        piece = compressor.compress(chunk)
        if piece:
            out.append(piece)
    out.append(compressor.flush())
    return out, time.perf_counter() - started, time.thread_time() - cpu


def inflates_to(pieces: Sequence[bytes], data: bytes) -> bool:
    """Whether the standard library's raw inflate turns ``pieces`` back into exactly ``data``."""
    inflater = zlib.decompressobj(-15)
    view = memoryview(data)
    position = 0
    for piece in pieces:
        plain = inflater.decompress(piece)
        if view[position : position + len(plain)] != plain:
            return False
        position += len(plain)
    plain = inflater.flush()
    if view[position : position + len(plain)] != plain:
        return False
    position += len(plain)
    return inflater.eof and not inflater.unused_data and position == len(data)


def measure(name: str, data: bytes, config: Config, repeat: int) -> Result:
    best: tuple[float, float] | None = None
    compressed = 0
    verified = False
    for attempt in range(repeat):
        pieces, seconds, cpu = stream(config, data)
        if attempt == 0:
            compressed = sum(len(p) for p in pieces)
            verified = inflates_to(pieces, data)
        if best is None or cpu < best[1]:
            best = (seconds, cpu)
        del pieces
    assert best is not None
    return Result(name, config, len(data), compressed, best[0], best[1], verified)


def unzip_check(config: Config, inputs: dict[str, bytes], module_attribute: str) -> str:
    """A ZIP from filegate's ZipWriter with this library's compressobj and crc32, tested by ``unzip -t``.

    ``module_attribute`` is the name under which zipwriter imported its deflate module.
    """
    from filegate.archive import zipwriter

    library = config.library

    def crc32(data: bytes | memoryview, value: int = 0) -> int:
        return library.crc32(data, value)

    shim = types.SimpleNamespace(compressobj=library.compressobj, crc32=crc32, DEFLATED=zlib.DEFLATED)
    path = DATA_DIR / f"deflate-check-{library.name}-{config.level}.zip"
    entries = {name: data[: 4 * MIB + 12345] for name, data in inputs.items()}
    entries |= {"empty": b"", "tiny": b"hello, zip\n"}
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with path.open("wb") as sink, mock.patch.object(zipwriter, module_attribute, shim):
        writer = zipwriter.ZipWriter(sink.write, deflate_level=config.level)
        for name, data in entries.items():
            entry = writer.open_entry(f"{name}.dat", moment, len(data), compress=True)
            for chunk in chunks(data):
                entry.write(chunk)
            entry.close()
        writer.close()
    with zipfile.ZipFile(path) as archive:
        for name, data in entries.items():
            if archive.read(f"{name}.dat") != data:
                return "zipfile: content differs"
    unzip = shutil.which("unzip")
    if unzip is None:
        return "zipfile ok; no unzip"
    run = subprocess.run([unzip, "-tq", str(path)], capture_output=True, text=True, check=False)
    path.unlink()
    verdict = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr.strip()
    return "ok" if run.returncode == 0 else f"unzip -t: {verdict}"


# Modules a ZipWriter may deflate with, by their __name__, and the library names used here.
DEFLATE_MODULES = {"isal.isal_zlib": "isal", "zlib_ng.zlib_ng": "zlib-ng", "zlib": "zlib"}


def filegate_deflate() -> tuple[str, int, str]:
    """The library and level filegate's ZipWriter deflates with, and the name it imported the module as."""
    from filegate.archive import deflate, zipwriter

    for attribute, value in vars(zipwriter).items():
        if isinstance(value, types.ModuleType) and value.__name__ in DEFLATE_MODULES:
            return DEFLATE_MODULES[value.__name__], deflate.DEFLATE_LEVEL, attribute
    raise SystemExit("cannot tell which deflate module filegate.archive.zipwriter uses")


# ---------------------------------------------------------------- Info-ZIP zip


def find_zip() -> tuple[str, str] | None:
    """The path of Info-ZIP's zip and the line of ``zip -v`` that names its version."""
    path = shutil.which("zip")
    if path is None:
        return None
    lines = subprocess.run([path, "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    version = next((line.strip() for line in lines if line.startswith("This is Zip")), "version unknown")
    return path, version


def warm(path: Path) -> None:
    """Read a file once so that zip finds it in the page cache."""
    with path.open("rb") as source:
        while source.read(CHUNK):
            pass


def zip_entry_matches(archive_path: Path, data: bytes) -> tuple[int, str, bool]:
    """The one entry's compressed size and method, and whether zipfile reads back exactly ``data``."""
    with zipfile.ZipFile(archive_path) as archive:
        (info,) = archive.infolist()
        method = {zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_STORED: "stored"}.get(
            info.compress_type, str(info.compress_type)
        )
        same = info.file_size == len(data)
        position = 0
        with archive.open(info) as entry:  # zipfile checks the CRC-32 at the end
            while same and (piece := entry.read(CHUNK)):
                same = data[position : position + len(piece)] == piece
                position += len(piece)
        return info.compress_size, method, same and position == len(data)


def measure_zip(name: str, data: bytes, source: Path, command: ZipCommand, repeat: int) -> Result:
    """Best wall time of ``zip -q -<level> out.zip input`` run in the input's directory."""
    warm(source)
    best: tuple[float, float] | None = None
    compressed = 0
    method = "?"
    verified = False
    for attempt in range(repeat):
        out = source.parent / f"deflate-zip{command.level}-{name}-{os.getpid()}-{attempt}.zip"
        out.unlink(missing_ok=True)
        try:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            run = subprocess.run(
                [command.path, "-q", f"-{command.level}", out.name, source.name],
                cwd=source.parent,
                capture_output=True,
                check=False,
            )
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if run.returncode != 0:
                raise SystemExit(f"{command.label} failed ({run.returncode}): {run.stderr.decode().strip()}")
            cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
            if attempt == 0:
                compressed, method, verified = zip_entry_matches(out, data)
        finally:
            out.unlink(missing_ok=True)
        if best is None or seconds < best[0]:
            best = (seconds, cpu)
    assert best is not None
    return Result(name, command, len(data), compressed, best[0], best[1], verified, method)


# ---------------------------------------------------------------- CRC-32, threads, probes


def crc_gb_s(library: Library, data: bytes, repeat: int) -> tuple[float, int]:
    best = float("inf")
    crc = 0
    for _ in range(repeat):
        crc = 0
        started = time.perf_counter()
        for chunk in chunks(data):
            crc = library.crc32(chunk, crc)
        best = min(best, time.perf_counter() - started)
    return len(data) / 1e9 / best, crc


def in_threads(work: Callable[[], object], threads: int) -> tuple[float, float]:
    """Wall and process CPU seconds for ``threads`` threads each running ``work`` once, started together."""
    barrier = threading.Barrier(threads + 1)

    def run() -> None:
        barrier.wait()
        work()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    cpu = time.process_time()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, time.process_time() - cpu


def gil_speedup(work: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """1 thread doing ``work`` twice against 2 threads doing it once each, started together.

    Returns the best wall seconds of each and the CPU cores the 2 threads kept busy (process CPU
    time over wall time): near 2 the work runs without the GIL, near 1 it holds the GIL. Both
    numbers mean that only while no other process is busy: on 2 cores, one busy process leaves
    about one core for the two threads whether the GIL is released or not.
    """
    one = min(in_threads(lambda: (work(), work()), 1)[0] for _ in range(repeat))
    two, cores = min((wall, cpu / wall) for wall, cpu in (in_threads(work, 2) for _ in range(repeat)))
    return one, two, cores


@dataclass
class Probe:
    library: str
    level: int
    input: str
    micros: float  # median of compressobj + compress(64 KiB) + flush
    ratios: list[float]  # compressed / original of each probe
    full_ratio: float  # compressed / original of the whole input at this level

    def stored(self, threshold: float) -> float:
        """The share of probes that would choose store at this threshold of output / input."""
        return sum(r > threshold for r in self.ratios) / len(self.ratios)


def probe(config: Config, name: str, data: bytes, full_ratio: float, samples: int) -> Probe:
    rng = random.Random(7)
    view = memoryview(data)
    times: list[float] = []
    ratios: list[float] = []
    for _ in range(samples):
        start = rng.randrange(0, len(data) - PROBE_SIZE)
        sample = view[start : start + PROBE_SIZE]
        started = time.perf_counter()
        compressor = config.library.compressobj(config.level, zlib.DEFLATED, -15)
        size = len(compressor.compress(sample)) + len(compressor.flush())
        times.append(time.perf_counter() - started)
        ratios.append(size / PROBE_SIZE)
    return Probe(
        config.library.name,
        config.level,
        name,
        statistics.median(times) * 1e6,
        ratios,
        full_ratio,
    )


def entry_overhead_us(config: Config, count: int = 2000) -> float:
    """Microseconds per entry for a compressor that gets a 1 KiB file: create, compress, flush."""
    small = b"filegate " * 114
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(count):
            compressor = config.library.compressobj(config.level, zlib.DEFLATED, -15)
            compressor.compress(small)
            compressor.flush()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


# ---------------------------------------------------------------- report


def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns align left, the rest right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    align = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    lines = [header, align, *rows]
    return "\n".join(
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines
    )


ZIP_MARK = "†"


def report_streams(results: Sequence[Result], filegate: tuple[str, int] | None) -> None:
    reference = {
        r.input: r
        for r in results
        if isinstance(r.config, Config) and (r.config.library.name, r.config.level) == REFERENCE
    }
    rows: list[list[str]] = []
    for r in results:
        ref = reference.get(r.input)
        label = r.config.label
        if isinstance(r.config, ZipCommand):
            label += f" {ZIP_MARK}"
            # zip is timed by the wall clock: set it against zlib 6's wall-clock speed.
            speed = f"{r.wall_mb_s / ref.wall_mb_s:.1f}x" if ref else "-"
        else:
            if filegate == (r.config.library.name, r.config.level):
                label += " (filegate)"
            speed = f"{r.mb_s / ref.mb_s:.1f}x" if ref else "-"
        rows.append(
            [
                r.input,
                label,
                f"{r.mb_s:.0f}",
                f"{r.wall_mb_s:.0f}",
                f"{r.ratio:.3f}",
                f"{r.compressed / ref.compressed:.3f}" if ref else "-",
                speed,
                "yes" if r.verified else "NO",
            ]
        )
    zips = [r for r in results if isinstance(r.config, ZipCommand)]
    print("## Streaming raw deflate (wbits -15), 1 MiB chunks\n")
    print("MB/s = MB of input per CPU second of the compressing thread (wall: per second of wall time,")
    print("lower when another process shared the core); ratio = input / output; size and speed are")
    print("against zlib 6 on the same input in this run; inflates = stdlib zlib gives the input back.")
    if filegate:
        print(f"(filegate) = the library and level filegate deflates with: {filegate[0]} {filegate[1]}.")
    print()
    header = ["input", "library level", "MB/s", "wall MB/s", "ratio", "size vs zlib 6", "speed vs zlib 6"]
    print(table([*header, "inflates"], rows, left=2))
    print()
    if zips:
        stored = sorted({f"{r.input} ({r.config.label})" for r in zips if r.method != "deflate"})
        print(f"{ZIP_MARK} Info-ZIP `zip -q -<level> out.zip input` on the input's file under bench/.data/,")
        print("a new archive each run, deleted after it. zip is single-threaded and does file I/O: it")
        print("reads the input (page cache warm: read once before timing) and writes the archive, and")
        print("its time includes starting the process and its CRC-32. MB/s = input MB / wall seconds")
        print("of the whole command (both MB/s columns), best of the same number of runs as the")
        print("libraries; speed vs zlib 6 is against zlib 6's wall MB/s. ratio = input size / the")
        print("entry's compress_size (zipfile); inflates = zipfile reads the entry back exactly.")
        if stored:
            print(f"zip stored, not deflated, the entry of: {', '.join(stored)} (deflate did not shrink it).")
        print()
        zip_rows = [
            [
                r.input,
                r.config.label,
                f"{r.seconds:.2f}",
                f"{r.cpu:.2f}",
                f"{r.size / MB / r.cpu:.0f}" if r.cpu else "-",
                f"{r.cpu / r.seconds:.0%}",
                r.method,
            ]
            for r in zips
        ]
        header = ["input", "command", "wall s", "user+sys s", "CPU MB/s", "CPU/wall", "entry"]
        print(table(header, zip_rows, left=2))
        print()

    print("## Growth of incompressible input (random)\n")
    print(f"zipwriter's ZIP64 margin allows {ZIP64_MARGIN_PER_MIB} bytes per MiB.\n")
    growth_rows = []
    for r in results:
        if r.input == "random" and isinstance(r.config, Config):
            per_mib = (r.compressed - r.size) / (r.size / MIB)
            verdict = "within" if per_mib <= ZIP64_MARGIN_PER_MIB else "EXCEEDS"
            growth_rows.append(
                [r.config.label, f"{per_mib:.0f}", f"{r.compressed / r.size - 1:+.3%}", verdict]
            )
    print(table(["library level", "bytes/MiB", "growth", "ZIP64 margin"], growth_rows))
    print()


def report_gil(libraries: Sequence[Library], text: bytes, repeat: int) -> None:
    print("## GIL: 2 threads each doing W against 1 thread doing W twice\n")
    print("cores = process CPU time over wall time with 2 threads: near 2 the call runs without the")
    print("GIL, near 1 it holds it. Only meaningful while no other process keeps a core busy.\n")
    work_data = text[: min(len(text), 64 * MB)]
    rows: list[list[str]] = []

    def row(label: str, work: Callable[[], object], megabytes: float, repeat: int) -> None:
        one, two, cores = gil_speedup(work, repeat)
        rows.append(
            [label, f"{megabytes / one:.0f}", f"{megabytes / two:.0f}", f"{one / two:.2f}x", f"{cores:.2f}"]
        )

    configs = [Config(library, 1) for library in libraries]
    configs.insert(1, Config(libraries[0], 6))
    for config in configs:

        def compress_work(c: Config = config) -> None:
            stream(c, work_data)

        row(f"compress, {config.label}", compress_work, 2 * len(work_data) / MB, repeat)
    for library in libraries:

        def crc_work(lib: Library = library) -> None:
            crc = 0
            for _ in range(4):
                for chunk in chunks(text):
                    crc = lib.crc32(chunk, crc)

        row(f"crc32, {library.name}", crc_work, 2 * 4 * len(text) / MB, max(3, repeat))
    header = ["work", "1 thread MB/s", "2 threads MB/s", "speed-up", "cores"]
    print(f"W: compress {len(work_data) / MB:.0f} MB of text in 1 MiB chunks; crc32 it 4 times over")
    print(f"{len(text) / MB:.0f} MB of text.\n")
    print(table(header, rows))
    print()


def report_probes(libraries: Sequence[Library], inputs: dict[str, bytes], results: Sequence[Result]) -> None:
    print(f"## Probe: compressobj + compress({PROBE_SIZE // KIB} KiB) + flush at a fast level\n")
    print("ratio = output / input (lower compresses better), 200 samples at random offsets of each")
    print("input; 'store >0.90' = the share of probes that would choose store at that threshold.\n")
    full = {
        (r.input, r.config.library.name, r.config.level): r.compressed / r.size
        for r in results
        if isinstance(r.config, Config)
    }
    rows = []
    for library in libraries:
        for level in sorted({library.fastest, 1}):
            config = Config(library, level)
            for name, data in inputs.items():
                found = probe(config, name, data, full.get((name, library.name, level), float("nan")), 200)
                rows.append(
                    [
                        config.label,
                        name,
                        f"{found.micros:.0f}",
                        f"{statistics.median(found.ratios):.3f}",
                        f"{max(found.ratios):.3f}",
                        f"{found.full_ratio:.3f}",
                        f"{found.stored(0.90):.0%}",
                        f"{found.stored(0.97):.0%}",
                    ]
                )
    header = ["library level", "input", "µs/probe", "median ratio", "max", "whole input"]
    print(table([*header, "store >0.90", "store >0.97"], rows, left=2))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="32 MB inputs instead of 200 MB")
    parser.add_argument("--size-mb", type=int, default=None, help="size of each input in MB")
    parser.add_argument(
        "--repeat", type=int, default=2, help="timed runs per row; the least CPU time is kept"
    )
    parser.add_argument("--no-unzip", action="store_true", help="skip the ZipWriter + unzip -t check")
    parser.add_argument("--no-zip", action="store_true", help="leave out Info-ZIP's zip command")
    args = parser.parse_args()
    size = (args.size_mb or (32 if args.quick else 200)) * MB

    libraries = load_libraries()
    by_name = {library.name: library for library in libraries}
    configs = [
        Config(by_name[name], level) for name, levels in LEVELS.items() if name in by_name for level in levels
    ]
    filegate_library, filegate_level, filegate_module = filegate_deflate()
    filegate: tuple[str, int] | None = (filegate_library, filegate_level)
    if filegate_library not in by_name:
        print(f"filegate deflates with {filegate_library}, which is not installed here", file=sys.stderr)
        filegate = None
    elif (filegate_library, filegate_level) not in {(c.library.name, c.level) for c in configs}:
        configs.append(Config(by_name[filegate_library], filegate_level))
    found_zip = None if args.no_zip else find_zip()
    if found_zip is None and not args.no_zip:
        print("Info-ZIP zip is not installed: left out (apt-get install zip)", file=sys.stderr)
    commands = [ZipCommand(found_zip[0], level) for level in ZIP_LEVELS] if found_zip else []

    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# deflate bench: {python}, {platform.machine()}, {os.cpu_count()} cores\n")
    for library in libraries:
        print(f"- {library.name}: {library.version}")
    if found_zip:
        print(f"- zip: {found_zip[0]}, {found_zip[1]}; levels {', '.join(map(str, ZIP_LEVELS))}")
    print(
        f"- filegate deflates with {filegate_library} level {filegate_level}"
        f" (filegate.archive.deflate.DEFLATE_LEVEL = {filegate_level};"
        f" filegate.archive.zipwriter uses {filegate_module})"
    )
    inputs = load_inputs(size)
    names = ", ".join(inputs)
    print(f"- inputs: {names}, {size / MB:.0f} MB each, {CHUNK // KIB} KiB chunks, best of {args.repeat}")
    print(f"- load average at start: {os.getloadavg()[0]:.2f}")
    print()

    results: list[Result] = []
    for name, data in inputs.items():
        for config in configs:
            result = measure(name, data, config, args.repeat)
            results.append(result)
            print(
                f"  {name:<7} {config.label:<10} {result.mb_s:8.1f} MB/s  ratio {result.ratio:6.3f}"
                f"  cpu/wall {result.cpu / result.seconds:4.0%}  inflates={result.verified}",
                file=sys.stderr,
            )
        for command in commands:
            result = measure_zip(name, data, input_path(name, size), command, args.repeat)
            results.append(result)
            print(
                f"  {name:<7} {command.label:<10} {result.mb_s:8.1f} MB/s  ratio {result.ratio:6.3f}"
                f"  cpu/wall {result.cpu / result.seconds:4.0%}  {result.method}  inflates={result.verified}",
                file=sys.stderr,
            )
    report_streams(results, filegate)

    if not args.no_unzip:
        print("## filegate ZipWriter with the library swapped in, checked by zipfile and `unzip -t`\n")
        checks = [[c.label, unzip_check(c, inputs, filegate_module)] for c in configs]
        print(table(["library level", "result"], checks))
        print()

    print("## CRC-32, 1 MiB chunks of the text input\n")
    crc_rows = []
    text = inputs["text"]
    expected = zlib.crc32(text)
    for library in libraries:
        speed, crc = crc_gb_s(library, text, max(3, args.repeat))
        crc_rows.append([library.name, f"{speed:.2f}", "yes" if crc == expected else "NO"])
    print(table(["library", "GB/s", "same as zlib"], crc_rows))
    print()

    report_gil(libraries, text, args.repeat)
    report_probes(libraries, inputs, results)

    print("## Per entry: compressobj + compress(1 KiB) + flush\n")
    entry_rows = [[c.label, f"{entry_overhead_us(c):.1f}"] for c in configs]
    print(table(["library level", "µs per entry"], entry_rows))
    print(f"\n- load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
