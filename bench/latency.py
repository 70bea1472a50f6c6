"""Time from POST /download to ready when nothing needs building: a cache hit, one file.

    .venv/bin/python bench/latency.py [--requests 300]

Starts filegate like bench/run.py (private redis-server, one worker, uvicorn; local store), makes
a folder of 50 small files, builds its archive once, then sends identical requests: each answers
202 with status "ready" (the archive is reused), so POST → ready is the POST itself. The same for
a request of one file (linked directly, nothing built). GET /health, timed in the same run, is the
floor of any request on this machine and the baseline of the ratio column.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from run import DATA_DIR, Filegate

FILES = 50


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(call: Callable[[], None], count: int, warm: int | None = None) -> list[float]:
    """``count`` timings of ``call`` after ``warm`` untimed calls (default: up to 20) that warm
    connections and caches."""
    for _ in range(min(20, count) if warm is None else warm):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="timed requests per kind (300)")
    args = parser.parse_args()

    root = DATA_DIR / "latency"
    folder = root / "album"
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(FILES):
        path = folder / f"photo-{number:03d}.jpg"
        if not path.exists():
            path.write_bytes(os.urandom(20_000))

    with tempfile.TemporaryDirectory(prefix="filegate-latency-") as scratch:
        work = Path(scratch)
        (work / "out").mkdir()
        service = Filegate(root, work / "out", work, pool="prefork")
        try:
            service.start()
            client = service.client
            started = time.perf_counter()
            first = client.post("/download", json={"paths": ["album/"]}).json()
            while (
                client.get(
                    f"/ticket/{first['ticket_id']}/status", headers={"Accept": "application/json"}
                ).json()["status"]
                != "ready"
            ):
                time.sleep(0.005)
            build_seconds = time.perf_counter() - started

            def health() -> None:
                assert client.get("/health").status_code == 200

            def cache_hit() -> None:
                answer = client.post("/download", json={"paths": ["album/"]})
                assert answer.status_code == 202 and answer.json()["status"] == "ready", answer.text

            def one_file() -> None:
                answer = client.post("/download", json={"paths": ["album/photo-007.jpg"]})
                assert answer.status_code == 202 and answer.json()["status"] == "ready", answer.text

            rows = [
                ("GET /health (floor, baseline)", timed(health, args.requests)),
                ("POST → ready, cache hit (50 files)", timed(cache_hit, args.requests)),
                ("POST → ready, one file", timed(one_file, args.requests)),
            ]
        finally:
            service.close()

    floor = statistics.median(rows[0][1])
    print(f"first build of the folder (POST → ready, polled every 5 ms): {build_seconds * 1000:.0f} ms")
    print(f"{'request':<38} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p50 vs floor':>13}")
    for label, samples in rows:
        p50 = statistics.median(samples)
        print(
            f"{label:<38} {p50 * 1000:8.1f} {percentile(samples, 0.9) * 1000:8.1f} "
            f"{percentile(samples, 0.99) * 1000:8.1f} {p50 / floor:12.1f}×"
        )


if __name__ == "__main__":
    main()
