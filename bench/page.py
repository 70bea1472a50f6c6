"""The page's latency: from pressing Download to the first progress shown, and to ready shown.

    .venv/bin/python bench/page.py [--runs 10] [--gib 8]      # make bench-page, about a minute

Everything runs on 127.0.0.1: a private redis-server, one Celery worker and uvicorn (bench/run.py's
``Filegate``, auth on, production progress interval), and a headless Chromium (Debian's, through
chromedriver) showing the page signed in as a user with a cookie session.

Each run ticks a fresh folder holding a sparse image of ``--gib`` GiB (zeros: read and deflated at
several GB/s, so the build lasts about a second and sends several progress events) and presses
Download, compression "compress everything". Measured in the page, by a MutationObserver the bench
installs (the page has no hooks), from the click: the new ticket's card appearing (POST /download
answered and drawn), its first progress figures drawn, and its part button drawn (ready). Measured
in the same run, as baselines: the POST's own time in the browser (Resource Timing), and a plain
SSE client in this process (httpx, the same user's feed opened once before the runs) noting when
the ticket's first progress event and its ready status arrive. Times are wall-clock milliseconds
on this machine's one clock. The first run is a warm-up and is not counted. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from latency import percentile
from run import Filegate, OtherLoad, machine_summary, table_lines, terminate_cleanly

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import chromium, console_errors, visible, wait_for

GIB = 1024**3
USER = "bench-page"
PASSWORD = "a long bench password"

# Installed before each click: notes Date.now() at the click, when the new card appears, when its
# progress figures first show, and when its part button shows.
WATCH = """
const marks = (window.__bench = {});
const known = new Set([...document.querySelectorAll("#tickets li.ticket")]);
document.getElementById("download").addEventListener("click", () => { marks.click = Date.now(); },
  { capture: true, once: true });
const observer = new MutationObserver(() => {
  const card = [...document.querySelectorAll("#tickets li.ticket")].find((li) => !known.has(li));
  if (!card) return;
  const now = Date.now();
  if (!marks.card) marks.card = now;
  const figures = card.querySelector(".ticket-figures");
  if (!marks.progress && figures && figures.textContent.includes(" of ")) marks.progress = now;
  if (!marks.ready && card.querySelector(".part a")) { marks.ready = now; observer.disconnect(); }
  if (!marks.ticket) marks.ticket = card.querySelector("h3").id.replace("ticket-", "");
});
observer.observe(document.getElementById("tickets"), { subtree: true, childList: true, characterData: true,
  attributes: true });
"""

POST_TIMING = """
const entries = performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/download"));
const last = entries[entries.length - 1];
return last ? last.responseEnd - last.startTime : null;
"""


class FeedListener:
    """A plain SSE client on the user's feed, noting when each ticket's first progress and its
    ready status arrive (Date.now()-like milliseconds)."""

    def __init__(self, base_url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        listing = httpx.get(f"{base_url}/tickets", headers=headers, timeout=30).json()
        self.url = f"{listing['events_url']}&after={listing['events_cursor']}"
        self.first_progress: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)

    def _follow(self) -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", self.url, timeout=None) as stream:
            event = ""
            for line in stream.iter_lines():
                now = time.time() * 1000
                if self.stopping.is_set():
                    return
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.partition(":")[2])
                    ticket = data.get("ticket_id", "")
                    if event == "progress":
                        self.first_progress.setdefault(ticket, now)
                    elif event == "status" and data.get("status") == "ready":
                        self.ready.setdefault(ticket, now)

    def __enter__(self) -> FeedListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()


def sign_in(driver: Any, base_url: str) -> None:
    driver.get(f"{base_url}/")
    wait_for(driver, lambda d: visible(d, "#username"))
    driver.find_element("id", "username").send_keys(USER)
    driver.find_element("id", "password").send_keys(PASSWORD + "\n")
    wait_for(driver, lambda d: visible(d, "#entries li"))
    driver.find_element("css selector", "#options summary").click()
    driver.find_element("css selector", "#opt-compression option[value=deflate]").click()


def one_run(driver: Any, folder: str, feed: FeedListener) -> dict[str, float]:
    """Tick ``folder`` at the top, press Download, wait for the part button; the marks in ms."""
    driver.find_element("css selector", f'#entries li[data-path="{folder}/"] input').click()
    driver.execute_script(WATCH)
    driver.find_element("id", "download").click()
    wait_for(driver, lambda d: d.execute_script("return window.__bench.ready"), timeout=120)
    marks: dict[str, Any] = driver.execute_script("return window.__bench")
    ticket = marks["ticket"]
    wait_for(driver, lambda d: ticket in feed.ready, timeout=30)
    click = float(marks["click"])
    return {
        "card": marks["card"] - click,
        "post": float(driver.execute_script(POST_TIMING) or 0),
        "page progress": marks["progress"] - click,
        "feed progress": feed.first_progress[ticket] - click,
        "page ready": marks["ready"] - click,
        "feed ready": feed.ready[ticket] - click,
    }


ROWS = [
    ("POST /download in the browser (baseline)", "post"),
    ("click → card shown (POST answered, drawn)", "card"),
    ("click → first progress at a plain SSE client (baseline)", "feed progress"),
    ("click → first progress shown on the page", "page progress"),
    ("click → ready at a plain SSE client (baseline)", "feed ready"),
    ("click → ready shown on the page (part button)", "page ready"),
]


def report(samples: list[dict[str, float]]) -> list[str]:
    rows: list[tuple[str, ...]] = [("ms from pressing Download", "median", "p90", "min", "max")]
    for label, key in ROWS:
        values = [sample[key] for sample in samples]
        rows.append(
            (
                label,
                f"{statistics.median(values):.0f}",
                f"{percentile(values, 0.9):.0f}",
                f"{min(values):.0f}",
                f"{max(values):.0f}",
            )
        )
    page_lag = [sample["page progress"] - sample["feed progress"] for sample in samples]
    ready_lag = [sample["page ready"] - sample["feed ready"] for sample in samples]
    return [
        *table_lines(rows),
        "",
        f"page behind the plain SSE client: first progress median {statistics.median(page_lag):.0f} ms "
        f"(p90 {percentile(page_lag, 0.9):.0f}); ready median {statistics.median(ready_lag):.0f} ms "
        f"(p90 {percentile(ready_lag, 0.9):.0f}, includes GET result_url and drawing the parts)",
    ]


@contextlib.contextmanager
def service_in(workdir: Path, root: Path) -> Iterator[Filegate]:
    service = Filegate(root, workdir / "out", workdir, "prefork")
    try:
        service.start()
        yield service
    finally:
        service.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="timed runs (10), after one warm-up")
    parser.add_argument("--gib", type=float, default=8.0, help="size of each run's sparse image in GiB (8)")
    args = parser.parse_args()

    others = OtherLoad()
    samples: list[dict[str, float]] = []
    with terminate_cleanly(), tempfile.TemporaryDirectory(prefix="filegate-page-") as scratch:
        work = Path(scratch)
        root = work / "files"
        for run in range(args.runs + 1):
            (root / f"run-{run:02}").mkdir(parents=True)
            (root / f"run-{run:02}" / "note.txt").write_text(f"run {run}\n")
            with (root / f"run-{run:02}" / "disk.img").open("wb") as sparse:
                sparse.truncate(int(args.gib * GIB))
        (work / "out").mkdir()
        (work / "downloads").mkdir()
        with service_in(work, root) as service:
            created = service.client.post("/users", json={"username": USER, "password": PASSWORD})
            created.raise_for_status()
            login = httpx.post(
                f"{service.base_url}/auth/login", json={"username": USER, "password": PASSWORD}, timeout=30
            )
            login.raise_for_status()
            driver = chromium(work / "downloads")
            try:
                with FeedListener(service.base_url, login.json()["access_token"]) as feed:
                    sign_in(driver, service.base_url)
                    for run in range(args.runs + 1):
                        sample = one_run(driver, f"run-{run:02}", feed)
                        if run > 0:  # the first warms the worker, the API and the page
                            samples.append(sample)
                        print(
                            f"run {run}: " + ", ".join(f"{k} {v:.0f}" for k, v in sample.items()), flush=True
                        )
                errors = console_errors(driver, (r"/auth/me - Failed to load resource", r"/licence - Failed"))
            finally:
                driver.quit()
    print(f"\nmachine: {machine_summary().rsplit('; This is Zip', 1)[0]}")
    print(f"each run: a folder with a {args.gib:g} GiB sparse image and a small file, compression deflate")
    print("\n".join(report(samples)))
    print(f"console errors on the page: {len(errors)}" + (f": {errors}" if errors else ""))
    print(f"\n{others.report()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
