"""compression: deflate on text: filegate's builder against Info-ZIP `zip -6`, in one run.

    .venv/bin/python bench/deflate_text.py             # ~130 MB of text; about a minute
    .venv/bin/python bench/deflate_text.py --repeat 5

The text is real: the Python standard library's .py files, copied under bench/.data/text/
as the many files they are ("files"), and concatenated into four files of about 33 MB ("large",
so that one entry spans many 1 MiB chunks). For each set, `zip -r -q -6` and filegate's snapshot
+ builder (build_parts into a local store, compression 'deflate', in this process, with its
deflate pool) run --repeat times, interleaved; the best wall time is kept. MB/s is MB of source
per wall second; size is the archive's bytes. The goal: filegate at least 5× zip -6's MB/s with
an archive at most 1.05× zip -6's size. Both figures are printed with the CPU seconds each used,
since filegate deflates on every core and zip on one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA = BENCH_DIR / ".data" / "text"
MB = 1_000_000


def make_sets() -> dict[str, Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = DATA / "files"
    large = DATA / "large"
    if not files.exists():
        for source in sorted(path for path in stdlib.rglob("*.py") if "site-packages" not in path.parts):
            target = files / source.relative_to(stdlib)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    if not large.exists():
        large.mkdir(parents=True)
        everything = sorted(path for path in files.rglob("*.py"))
        for index in range(4):
            with (large / f"corpus-{index}.txt").open("wb") as out:
                for path in everything[index::4]:
                    out.write(path.read_bytes())
    return {"files": files, "large": large}


def source_bytes(top: Path) -> int:
    return sum(path.stat().st_size for path in top.rglob("*") if path.is_file())


def run_zip(top: Path, out: Path) -> tuple[float, float, int]:
    archive = out / "zip6.zip"
    archive.unlink(missing_ok=True)
    before = os.times()
    started = time.perf_counter()
    subprocess.run(["zip", "-r", "-q", "-6", str(archive), top.name], cwd=top.parent, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, archive.stat().st_size


def run_filegate(top: Path, out: Path) -> tuple[float, float, int]:
    from filegate.archive.builder import build_parts
    from filegate.archive.parts import plan_parts
    from filegate.snapshot.paths import normalise_paths
    from filegate.snapshot.service import SnapshotLimits, take_snapshot
    from filegate.storage.local import LocalStorage

    storage = LocalStorage(top.parent, out, "http://127.0.0.1:1", "bench-signing-secret")
    before = time.process_time()
    started = time.perf_counter()
    manifest = take_snapshot(storage, normalise_paths([top.name]), SnapshotLimits(10**7, 10**15))
    parts = build_parts(storage, plan_parts(manifest, None), "text", "bench", "deflate", lambda _: None)
    wall = time.perf_counter() - started
    cpu = time.process_time() - before
    size = sum(part.size for part in parts if part.name.endswith(".zip"))
    shutil.rmtree(out / "bench", ignore_errors=True)
    return wall, cpu, size


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("zip") is None:
        sys.exit("zip is not installed: apt-get install zip (or make tools)")
    sets = make_sets()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start\n")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        for name, top in sets.items():
            total = source_bytes(top)
            best: dict[str, tuple[float, float, int]] = {}
            for _ in range(args.repeat):
                for method, run in (("zip -6", run_zip), ("filegate deflate", run_filegate)):
                    result = run(top, out)
                    if method not in best or result[0] < best[method][0]:
                        best[method] = result
            zip_wall, _, zip_size = best["zip -6"]
            count = sum(1 for path in top.rglob("*") if path.is_file())
            print(f"{name}: {count:,} files, {total / MB:,.1f} MB of text")
            print(f"{'method':<18} {'MB/s':>7} {'× zip -6':>9} {'CPU s':>7} {'size MB':>8} {'× zip -6':>9}")
            for method, (wall, cpu, size) in best.items():
                print(
                    f"{method:<18} {total / wall / MB:>7.1f} {zip_wall / wall:>8.2f}× {cpu:>7.2f}"
                    f" {size / MB:>8.2f} {size / zip_size:>8.3f}×"
                )
            wall, _, size = best["filegate deflate"]
            speed, bulk = zip_wall / wall, size / zip_size
            verdict = "met" if speed >= 5 and bulk <= 1.05 else "MISSED"
            print(f"goal ≥ 5× the speed and ≤ 1.05× the size: {speed:.2f}× and {bulk:.3f}×: {verdict}\n")
    print(f"load average {os.getloadavg()[0]:.2f} at the end (above ~0.5, other work shared the cores)")


if __name__ == "__main__":
    main()
