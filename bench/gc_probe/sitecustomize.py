"""Loaded into the API only by bench/control.py --gc: each collection CPython makes, and how long.

Python imports ``sitecustomize`` at start-up from the path; bench/control.py puts this folder on
the API's PYTHONPATH and names a file in BENCH_GC_LOG. Every gen-2 (full) collection is kept
with its wall-clock end and duration, and the counts and totals of all three generations; the
file is rewritten every half second, since the API is stopped by a signal.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from typing import Any


def _install(path: str) -> None:
    totals = {generation: [0, 0.0] for generation in range(3)}
    full: list[tuple[float, float]] = []
    started = [0.0]

    def on_collect(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        seconds = time.perf_counter() - started[0]
        generation = info["generation"]
        totals[generation][0] += 1
        totals[generation][1] += seconds
        if generation == 2 and len(full) < 100_000:
            full.append((time.time(), seconds))

    def write() -> None:
        while True:
            time.sleep(0.5)
            snapshot = {"totals": totals, "full": list(full)}
            with open(path + ".tmp", "w") as out:
                json.dump(snapshot, out)
            os.replace(path + ".tmp", path)

    gc.callbacks.append(on_collect)
    threading.Thread(target=write, name="bench-gc-probe", daemon=True).start()


if os.environ.get("BENCH_GC_LOG"):
    _install(os.environ["BENCH_GC_LOG"])
