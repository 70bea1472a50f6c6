"""The page in a real headless Chromium against a real filegate: sign-in, browsing, a download
followed live to its part, cancelling, a reload and a restarted API mid-build, a page on another
origin (CORS), and the cookie session's CSRF rule. Screenshots of every state go to .run/screenshots."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import signal
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from filegate.auth.capabilities import Capability, sign_capability
from filegate.state.keys import owner_feed
from tests.browser import (
    card,
    card_status,
    console_errors,
    css,
    go_up_to,
    open_folder,
    opened,
    press_download,
    recorded_events,
    row,
    screenshot,
    set_options,
    shows_progress,
    tick,
    ticket_id_of,
    visible,
    wait_for,
    wait_for_download,
)
from tests.client import auth, eventually
from tests.conftest import Deployment, deployed
from tests.services import ADMIN_TOKEN, free_port, service_env, stop
from tests.sources import LocalSources
from tests.sse import Reader

pytestmark = pytest.mark.browser

PASSWORD = "a long page password"
GIB = 1024**3
BUILD_CPU_SHARE = 0.2
"""The build worker runs a fifth of the time: builds last seconds, whatever this machine's speed."""
# The page asks who is signed in before anyone is: that 401 is how it learns to show the form.
SIGNED_OUT_PROBE = r"/auth/me - Failed to load resource: the server responded with a status of 401"


# Services


class StaticSite:
    """A tiny HTTP server on its own port (so its own origin) serving one folder."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StaticSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class PageRig:
    deployment: Deployment
    listed: StaticSite
    """An origin in FILEGATE_CORS_ORIGINS."""
    unlisted: StaticSite
    """An origin that is not."""
    downloads: Path

    @property
    def base_url(self) -> str:
        return self.deployment.base_url

    def user(self) -> str:
        """A new user of the tests' app: its own tickets, so each test's panel starts empty."""
        name = f"page-{uuid.uuid4().hex[:8]}"
        created = httpx.post(
            f"{self.base_url}/users",
            json={"username": name, "password": PASSWORD},
            headers=auth(self.base_url),
            timeout=10,
        )
        assert created.status_code == 201, created.text
        return name

    def tree(self, *, big_gib: float = 1.5) -> str:
        """A fresh folder: photos/2023/ (two small files and a sparse image of ``big_gib`` GiB, slow
        enough to watch) and reports/2023.pdf."""
        root = self.deployment.folder()
        sources = self.deployment.sources
        sources.put(f"{root}/photos/2023/a.txt", b"first small file\n" * 100)
        sources.put(f"{root}/photos/2023/b.txt", os.urandom(50_000))
        sources.put(f"{root}/photos/2024/c.txt", b"not selected")
        sources.put(f"{root}/reports/2023.pdf", b"%PDF-1.4\n" + os.urandom(120_000))
        sources.put(f"{root}/reports/2024.pdf", b"not selected either")
        assert isinstance(sources, LocalSources)
        with (sources.root / root / "photos/2023/disk.img").open("wb") as sparse:
            sparse.truncate(int(big_gib * GIB))
        return root


@pytest.fixture(scope="module")
def rig(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageRig]:
    home = tmp_path_factory.mktemp("page")
    (home / "files").mkdir()
    site = tmp_path_factory.mktemp("other-origin")
    (site / "index.html").write_text(CROSS_ORIGIN_HTML)
    (site / "client.js").write_text(CROSS_ORIGIN_JS)
    with StaticSite(site) as listed, StaticSite(site) as unlisted:
        env = service_env(
            f"{redis_url}/56",
            home,
            FILEGATE_CORS_ORIGINS=listed.origin,
            # One build at a time: a second download waits in line, as a person would see it.
            FILEGATE_MAX_CONCURRENT_BUILDS="1",
            FILEGATE_PROGRESS_INTERVAL_MS="100",
            FILEGATE_RATE_LOGINS="1000/minute",
            # Sparse images count at their full size: keep the budget off this disk's free space.
            FILEGATE_SPACE_BUDGET="200GB",
        )
        with deployed(home, env, LocalSources(home / "files")) as running:
            downloads = home / "browser-downloads"
            downloads.mkdir()
            assert running.service.worker is not None
            with Throttle(running.service.worker.pid, share=BUILD_CPU_SHARE):
                yield PageRig(running, listed, unlisted, downloads)


class Throttle:
    """Slows the build worker's pool process(es) to ``share`` of the CPU with SIGSTOP/SIGCONT, so a
    build of a few GiB of zeros (which runs at several GB/s) lasts seconds a person can watch."""

    def __init__(self, worker_pid: int, share: float, period_seconds: float = 0.05) -> None:
        self.worker_pid = worker_pid
        self.run_seconds = period_seconds * share
        self.stop_seconds = period_seconds - self.run_seconds
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _children(self) -> list[int]:
        path = Path(f"/proc/{self.worker_pid}/task/{self.worker_pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def _signal(self, pids: list[int], signal_number: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_number)

    def _loop(self) -> None:
        pids: list[int] = []
        try:
            while not self.done.is_set():
                pids = self._children()
                self._signal(pids, signal.SIGCONT)
                self.done.wait(self.run_seconds)
                if self.done.is_set():
                    break
                self._signal(pids, signal.SIGSTOP)
                time.sleep(self.stop_seconds)
        finally:
            self._signal(pids, signal.SIGCONT)

    def __enter__(self) -> Throttle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


@pytest.fixture
def browser(rig: PageRig) -> Iterator[webdriver.Chrome]:
    with opened(rig.downloads) as driver:
        yield driver


# Driving the page as a person


def sign_in(
    driver: webdriver.Chrome, rig: PageRig, username: str, *, shot: str | None = None, host: str = ""
) -> None:
    """Signs in through the form; ``host`` opens the page under another name for the same server."""
    url = rig.base_url.replace("127.0.0.1", host) if host else rig.base_url
    driver.get(f"{url}/")
    wait_for(driver, lambda d: visible(d, "#username"))
    if shot:
        screenshot(driver, shot)
    css(driver, "#username").send_keys(username)
    css(driver, "#password").send_keys(PASSWORD)
    css(driver, "#login-form button[type=submit]").click()
    wait_for(driver, lambda d: visible(d, "#who") and visible(d, "#entries li"))
    assert f"Signed in as {username} (user)" in css(driver, "#who-text").text


def assert_no_console_errors(driver: webdriver.Chrome, *allowed: str) -> None:
    assert console_errors(driver, (SIGNED_OUT_PROBE, *allowed)) == []


# The tests


def test_a_person_browses_selects_and_downloads_a_part_watched_live(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=2)
    user = rig.user()
    sign_in(browser, rig, user, shot="logged-out")

    open_folder(browser, root)
    open_folder(browser, f"{root}/photos")
    screenshot(browser, "browsing")
    tick(browser, f"{root}/photos/2023/")
    go_up_to(browser, root)
    open_folder(browser, f"{root}/reports")
    tick(browser, f"{root}/reports/2023.pdf")
    summary = css(browser, "#tray-summary").text
    assert summary.startswith("2 items selected")
    assert "1 folder of unknown size" in summary
    set_options(browser, name="holiday", compression="deflate")
    screenshot(browser, "selection", show="#download")

    press_download(browser)
    screenshot(browser, "queued", show="#tickets")
    wait_for(browser, lambda d: shows_progress(d, "holiday"), timeout=30)
    wait_for(
        browser, lambda d: "left" in card(d, "holiday").find_element(By.CSS_SELECTOR, ".ticket-figures").text
    )
    screenshot(browser, "preparing", show="#tickets")

    wait_for(browser, lambda d: visible(d, "#tickets .part a"), timeout=60)
    assert card_status(browser, "holiday") == "ready"
    screenshot(browser, "ready", show="#tickets")
    link = css(browser, "#tickets .part a")
    assert link.get_attribute("download") == "holiday.zip"
    assert "holiday.zip" in link.text and "SHA-256" in card(browser, "holiday").text
    assert "manifest" in card(browser, "holiday").text

    link.click()
    archive = wait_for_download(rig.downloads, "holiday.zip")
    sources = rig.deployment.sources.root / root  # type: ignore[union-attr]
    expected = {
        "2023/a.txt": sources / "photos/2023/a.txt",
        "2023/b.txt": sources / "photos/2023/b.txt",
        "2023/disk.img": sources / "photos/2023/disk.img",
        "2023.pdf": sources / "reports/2023.pdf",
    }
    with zipfile.ZipFile(archive) as opened_zip:
        entries = {info.filename: info for info in opened_zip.infolist() if not info.is_dir()}
        assert set(entries) == set(expected)
        for name, source in expected.items():
            assert entries[name].file_size == source.stat().st_size
            assert _crc32(source) == entries[name].CRC, name
        assert opened_zip.testzip() is None
    assert_no_console_errors(browser)


def test_a_split_archive_offers_its_first_part_while_the_rest_is_built(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=3)
    sign_in(browser, rig, rig.user())
    open_folder(browser, root)
    tick(browser, f"{root}/reports/")
    tick(browser, f"{root}/photos/")
    set_options(browser, name="early", split="1MB", compression="store")
    press_download(browser)

    wait_for(browser, lambda d: visible(d, "#tickets .part a"), timeout=60)
    assert card_status(browser, "early") == "preparing"
    pending = browser.find_elements(By.CSS_SELECTOR, "#tickets .part.pending")
    assert pending and "is being built" in pending[0].text
    link = css(browser, "#tickets .part a")
    count = len(browser.find_elements(By.CSS_SELECTOR, "#tickets .part"))
    assert link.text.startswith(f"Download part 1 of {count}: early-1-of-{count}.zip")
    screenshot(browser, "first-part-early", show="#tickets")
    link.click()
    first = wait_for_download(rig.downloads, f"early-1-of-{count}.zip")
    assert card_status(browser, "early") == "preparing"  # saved while the rest is still built
    with zipfile.ZipFile(first) as opened_zip:
        assert opened_zip.testzip() is None
        assert "reports/2023.pdf" in opened_zip.namelist()

    wait_for(browser, lambda d: card_status(d, "early") == "ready", timeout=120)
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#tickets .part.pending"))
    links = browser.find_elements(By.CSS_SELECTOR, "#tickets .part a")
    assert [item.get_attribute("download") for item in links] == [
        f"early-{number}-of-{count}.zip" for number in range(1, count + 1)
    ]
    assert "manifest" in card(browser, "early").text
    screenshot(browser, "all-parts-ready", show="#tickets")
    assert_no_console_errors(browser)


def test_a_waiting_and_a_preparing_download_are_cancelled_from_the_page(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=8)
    second = rig.tree(big_gib=1)
    sign_in(browser, rig, rig.user())
    open_folder(browser, root)
    tick(browser, f"{root}/photos/")
    set_options(browser, name="big", compression="deflate")
    press_download(browser)
    wait_for(browser, lambda d: shows_progress(d, "big"))

    # One build at a time: the next download waits in line for the slot.
    go_up_to(browser, "All files")
    open_folder(browser, second)
    tick(browser, f"{second}/reports/")
    set_options(browser, name="waiting")
    press_download(browser)
    wait_for(browser, lambda d: "waiting for a free build slot" in card(d, "waiting").text)
    assert card_status(browser, "waiting") == "queued"
    screenshot(browser, "queued-in-line", show="#tickets")

    card(browser, "waiting").find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    wait_for(browser, lambda d: card_status(d, "waiting") == "cancelled")
    wait_for(browser, lambda d: shows_progress(d, "big"))
    screenshot(browser, "preparing-beside-cancelled", show="#tickets")
    card(browser, "big").find_element(By.XPATH, ".//button[normalize-space()='Cancel']").click()
    wait_for(browser, lambda d: card_status(d, "big") == "cancelled")
    assert "Cancelled" in card(browser, "big").text
    screenshot(browser, "cancelled", show="#tickets")

    client = redis.Redis.from_url(rig.deployment.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
    for name in ("big", "waiting"):
        assert client.hget(f"filegate:ticket:{ticket_id_of(browser, name)}", "status") == "cancelled"
    build_id = rig.deployment.build_id(ticket_id_of(browser, "big"))
    log = rig.deployment.service.worker_log
    assert eventually(lambda: f"build {build_id} cancelled" in log.read_text(), timeout=30)
    assert_no_console_errors(browser)


def test_a_reloaded_page_lists_the_download_again_and_follows_it_to_ready(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=3)
    # As "localhost": the API names itself 127.0.0.1 in the URLs it hands out, which the page's
    # CSP would refuse to connect to; the page follows them on its own origin.
    sign_in(browser, rig, rig.user(), host="localhost")
    open_folder(browser, root)
    tick(browser, f"{root}/photos/")
    set_options(browser, name="reloaded", compression="deflate")
    press_download(browser)
    wait_for(browser, lambda d: shows_progress(d, "reloaded"))
    before = ticket_id_of(browser, "reloaded")

    browser.refresh()
    wait_for(browser, lambda d: visible(d, "#tickets li.ticket"))
    assert ticket_id_of(browser, "reloaded") == before
    # The folder shown is in the address (#/<root>): the reload shows it again.
    wait_for(browser, lambda d: css(d, "#crumbs [aria-current]").text == root)
    assert css(browser, "#who-text").text.startswith("Signed in as")
    wait_for(browser, lambda d: shows_progress(d, "reloaded") or card_status(d, "reloaded") == "ready")
    screenshot(browser, "reloaded", show="#tickets")
    wait_for(browser, lambda d: visible(d, "#tickets .part a"), timeout=60)
    assert card_status(browser, "reloaded") == "ready"
    # The selection survived too: it lives in the tab.
    assert css(browser, "#download").is_enabled() is False
    assert_no_console_errors(browser)


def test_a_restarted_api_loses_and_repeats_no_event(rig: PageRig) -> None:
    root = rig.tree(big_gib=5)  # long enough to still be building when the API is back
    with opened(rig.downloads, record_events=True) as driver:
        sign_in(driver, rig, rig.user())
        open_folder(driver, root)
        open_folder(driver, f"{root}/photos")
        tick(driver, f"{root}/photos/2023/")
        set_options(driver, name="restarted", compression="deflate")
        press_download(driver)
        wait_for(driver, lambda d: shows_progress(d, "restarted"))
        ticket_id = ticket_id_of(driver, "restarted")

        service = rig.deployment.service
        assert service.api is not None
        # Open event streams hold uvicorn's graceful shutdown: a short grace, then it is killed.
        stop(service.api, timeout=2)
        wait_for(driver, lambda d: visible(d, "#connection"), timeout=20)
        screenshot(driver, "reconnecting", show="#tickets")
        service.start_api()

        wait_for(driver, lambda d: visible(d, "#tickets .part a"), timeout=90)
        # The list may bring "ready" before the stream is back; the stream then brings it too.
        wait_for(driver, lambda d: not visible(d, "#connection"), timeout=30)
        wait_for(driver, lambda d: _has_final_status(recorded_events(d), ticket_id), timeout=30)
        records = recorded_events(driver)
        # What the browser logs while the API is away: the cut stream, calls refused meanwhile.
        assert_no_console_errors(
            driver,
            r"/tickets/events\?.* - Failed to load resource",
            r"- Failed to load resource: net::ERR_CONNECTION_REFUSED",
        )

    connects = [record for record in records if record["kind"] == "connect"]
    assert len(connects) == 1, "one EventSource for the page, reconnected by the browser itself"
    assert any(record["kind"] == "error" for record in records), "the stream did drop"
    seen = [
        record
        for record in records
        if record["kind"] == "message" and json.loads(record["data"]).get("ticket_id") == ticket_id
    ]
    seen_ids = [record["id"] for record in seen]
    assert len(seen_ids) == len(set(seen_ids)), "an event was delivered twice"

    # Every event of the ticket in its owner's feed, in order, each once.
    owner = _owner_of(rig, ticket_id)
    client = redis.Redis.from_url(rig.deployment.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
    feed = [
        (entry_id, fields)
        for entry_id, fields in client.xrange(owner_feed(owner))
        if fields.get("ticket") == ticket_id
    ]
    assert seen_ids == [entry_id for entry_id, _ in feed]
    assert [record["type"] for record in seen] == [fields["event"] for _, fields in feed]

    # The same events, in the same order, as the ticket's own stream tells them.
    status_url = _status_url(rig, ticket_id)
    with httpx.stream("GET", status_url, headers={"Accept": "text/event-stream"}, timeout=30) as sse:
        own = list(Reader().messages(sse.iter_lines()))
    assert [(m.event, _without_ticket(m.json())) for m in own] == [
        (record["type"], _without_ticket(json.loads(record["data"]))) for record in seen
    ]
    assert own[-1].json()["status"] == "ready"


def test_a_build_that_fails_says_why(rig: PageRig, browser: webdriver.Chrome) -> None:
    root = rig.tree(big_gib=1)
    sources = rig.deployment.sources
    sources.put(f"{root}/photos/2023/zz-last.txt", b"read last")
    sign_in(browser, rig, rig.user())
    open_folder(browser, root)
    tick(browser, f"{root}/photos/")
    set_options(browser, name="changing", compression="deflate")
    press_download(browser)
    # Changed after the request, before the build reads it: the default on_change fails the build.
    sources.put(f"{root}/photos/2023/zz-last.txt", b"changed meanwhile, and longer")
    wait_for(browser, lambda d: card_status(d, "changing") == "failed", timeout=60)
    text = card(browser, "changing").text
    assert "could not be made" in text and "zz-last.txt" in text
    screenshot(browser, "failed", show="#tickets")
    card(browser, "changing").find_element(By.XPATH, ".//button[contains(., 'Remove')]").click()
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#tickets li.ticket"))
    assert_no_console_errors(browser)


def test_a_page_on_a_listed_origin_downloads_and_an_unlisted_one_is_refused(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=0.01)
    key = _new_app_key(rig.base_url)
    query = urlencode(
        {
            "api": rig.base_url,
            "key": key,
            "paths": json.dumps([f"{root}/photos/", f"{root}/reports/2023.pdf"]),
        }
    )

    browser.get(f"{rig.listed.origin}/index.html?{query}")
    report = _cross_origin_report(browser)
    assert report["stage"] == "done", report
    assert report["statuses"][-1] == "ready"
    assert len(report["parts"]) == 1 and report["parts"][0].startswith(f"{rig.base_url}/files/")
    assert httpx.get(report["parts"][0], timeout=30).content[:2] == b"PK"
    screenshot(browser, "other-origin-allowed")
    assert_no_console_errors(browser)

    browser.get(f"{rig.unlisted.origin}/index.html?{query}")
    report = _cross_origin_report(browser)
    assert report == {"stage": "post", "error": "TypeError"}, report
    # The preflight was refused: the download was never even asked for.
    listed = httpx.get(f"{rig.base_url}/tickets", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert len(listed.json()["tickets"]) == 1


def test_a_cookie_session_needs_its_csrf_header_and_ends_at_sign_out(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=0.01)
    # Signed in with the keyboard alone: the form's fields in order, Enter submits, focus shows.
    browser.get(f"{rig.base_url}/")
    wait_for(browser, lambda d: visible(d, "#username"))
    assert browser.switch_to.active_element.get_attribute("id") == "username"
    assert browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle") != "none"
    browser.switch_to.active_element.send_keys(rig.user(), Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "password"
    browser.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    wait_for(browser, lambda d: visible(d, "#who") and visible(d, "#entries li"))

    refused = _page_fetch(browser, "/download", "POST", {"paths": [f"{root}/reports/"]})
    assert refused["status"] == 403, refused
    assert "detail" in refused["body"]

    css(browser, "#logout").click()
    wait_for(browser, lambda d: visible(d, "#username"))
    screenshot(browser, "signed-out")
    after = _page_fetch(browser, "/auth/me", "GET", None)
    assert after["status"] == 401, after
    assert_no_console_errors(
        browser, r"/download - Failed to load resource: .* 403", r"/auth/me - Failed to load resource"
    )


def test_a_long_folder_loads_more_and_ticks_survive_moving_around(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.deployment.folder()
    for number in range(130):
        rig.deployment.sources.put(f"{root}/many/f{number:03}.txt", b"x" * (number + 1))
    rig.deployment.sources.put(f"{root}/other/one.txt", b"one")
    sign_in(browser, rig, rig.user())
    open_folder(browser, root)
    open_folder(browser, f"{root}/many")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#entries li")) == 100
    tick(browser, f"{root}/many/f000.txt")
    css(browser, "#more").send_keys(Keys.ENTER)
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#entries li")) == 130)
    assert not visible(browser, "#more")
    assert "130 items shown" in css(browser, "#browse-status").text
    tick(browser, f"{root}/many/f129.txt")

    go_up_to(browser, root)
    open_folder(browser, f"{root}/other")
    tick(browser, f"{root}/other/one.txt")
    browser.back()  # the address follows the folders: Back shows the one before
    wait_for(browser, lambda d: css(d, "#crumbs [aria-current]").text == root)
    open_folder(browser, f"{root}/many")
    assert css(browser, f"{row(f'{root}/many/f000.txt')} input").is_selected()
    # 1 + 130 + 3 bytes in three files, all known.
    assert css(browser, "#tray-summary").text == "3 items selected: 134 bytes in 3 files."

    # Ticking the folder takes in what was ticked inside it, and locks its contents.
    go_up_to(browser, root)
    tick(browser, f"{root}/many/")
    assert css(browser, "#tray-summary").text.startswith("2 items selected")
    open_folder(browser, f"{root}/many")
    inner = css(browser, f"{row(f'{root}/many/f001.txt')} input")
    assert inner.is_selected() and not inner.is_enabled()
    assert (
        f"Included with the selected folder {root}/many/" in css(browser, row(f"{root}/many/f001.txt")).text
    )
    assert_no_console_errors(browser)


def test_an_app_key_signs_in_for_the_tab_and_a_ready_archive_is_released(
    rig: PageRig, browser: webdriver.Chrome
) -> None:
    root = rig.tree(big_gib=0.01)
    key = _new_app_key(rig.base_url)
    browser.get(f"{rig.base_url}/")
    wait_for(browser, lambda d: visible(d, "#username"))
    css(browser, "#login details summary").click()
    css(browser, "#api-key").send_keys(key, Keys.ENTER)
    wait_for(browser, lambda d: visible(d, "#entries li"))
    assert css(browser, "#who-text").text == "Signed in as other-origin (app key)"
    assert browser.execute_script("return sessionStorage.getItem('filegate.bearer')") == key

    browser.refresh()  # the tab keeps the key
    wait_for(browser, lambda d: visible(d, "#entries li"))
    open_folder(browser, root)
    tick(browser, f"{root}/reports/")
    press_download(browser)
    wait_for(browser, lambda d: visible(d, "#tickets .part a"), timeout=60)
    ticket_id = ticket_id_of(browser, "reports")
    card(browser, "reports").find_element(By.XPATH, ".//button[contains(., 'delete the archive')]").click()
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#tickets li.ticket"))
    state = httpx.get(
        f"{rig.base_url}/ticket/{ticket_id}/status",
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        timeout=10,
    )
    assert state.status_code == 410 or state.json()["status"] == "expired", state.text

    css(browser, "#logout").click()
    wait_for(browser, lambda d: visible(d, "#username"))
    assert browser.execute_script("return sessionStorage.getItem('filegate.bearer')") is None
    # Signing out forgets the key in the tab; the key itself stays valid.
    assert httpx.get(f"{rig.base_url}/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert_no_console_errors(browser)


def test_without_authentication_the_page_opens_at_the_files(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, rig: PageRig
) -> None:
    home = tmp_path_factory.mktemp("page-open")
    sources = LocalSources(home / "files")
    sources.put("shared/notes.txt", b"open to all" * 100)
    sources.put("shared/more.txt", b"and more")
    env = service_env(f"{redis_url}/48", home, FILEGATE_AUTH="off")
    with deployed(home, env, sources) as running, opened(rig.downloads) as driver:
        driver.get(f"{running.base_url}/")
        wait_for(driver, lambda d: visible(d, "#entries li"))
        assert not visible(driver, "#username") and not visible(driver, "#logout")
        assert "asks no one to sign in" in css(driver, "#who-text").text
        tick(driver, "shared/")
        css(driver, "#options summary").click()
        # Anonymous callers may ask any priority, and the community licence allows them.
        priorities = [
            option.get_attribute("value") for option in Select(css(driver, "#opt-priority")).options
        ]
        assert priorities == ["high", "normal", "low"] and visible(driver, "#opt-split")
        press_download(driver)
        wait_for(driver, lambda d: visible(d, "#tickets .part a"), timeout=60)
        screenshot(driver, "without-sign-in", show="#tickets")
        assert console_errors(driver) == []


def test_the_page_is_served_with_headers_that_hold_the_browser_to_it(rig: PageRig) -> None:
    page = httpx.get(f"{rig.base_url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-cache"
    script = httpx.get(f"{rig.base_url}/ui/main.js", timeout=10)
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["content-security-policy"] == policy
    again = httpx.get(f"{rig.base_url}/ui/main.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(f"{rig.base_url}/ui/style.css").headers["content-type"].startswith("text/css")
    for missing in ("nothing.js", "..%2Fapp.py", ".hidden.js", "router.py"):
        answer = httpx.get(f"{rig.base_url}/ui/{missing}", timeout=10)
        assert answer.status_code == 404, missing
        assert "detail" in answer.json()


def test_the_licence_answers_a_cookie_session(rig: PageRig) -> None:
    assert _licence_answers_a_cookie_session(rig.base_url)


# Helpers


def _licence_answers_a_cookie_session(base_url: str) -> bool:
    """Whether GET /licence accepts the cookie a page signs in with (the page offers split sizes
    and priorities from it)."""
    name = f"licence-{uuid.uuid4().hex[:8]}"
    created = httpx.post(
        f"{base_url}/users", json={"username": name, "password": PASSWORD}, headers=auth(base_url)
    )
    assert created.status_code == 201, created.text
    with httpx.Client(base_url=base_url, timeout=10) as client:
        login = client.post("/auth/login", json={"username": name, "password": PASSWORD, "session": "cookie"})
        assert login.status_code == 200, login.text
        return client.get("/licence").status_code == 200


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as source:
        while chunk := source.read(8 * 1024 * 1024):
            crc = zlib.crc32(chunk, crc)
    return crc


def _has_final_status(records: list[dict[str, Any]], ticket_id: str) -> bool:
    return any(
        record["kind"] == "message"
        and record["type"] == "status"
        and json.loads(record["data"]).get("ticket_id") == ticket_id
        and json.loads(record["data"]).get("status") == "ready"
        for record in records
    )


def _without_ticket(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "ticket_id"}


def _owner_of(rig: PageRig, ticket_id: str) -> str:
    client = redis.Redis.from_url(rig.deployment.service.env["FILEGATE_REDIS_URL"], decode_responses=True)
    owner = client.hget(f"filegate:ticket:{ticket_id}", "owner")
    assert owner, f"ticket {ticket_id} has no owner"
    return str(owner)


def _status_url(rig: PageRig, ticket_id: str) -> str:
    """The ticket's capability status URL, as its owner's ticket list gives it."""
    secret = rig.deployment.service.env["FILEGATE_SIGNING_SECRET"]
    access = sign_capability(secret, Capability.TICKET_STATUS, ticket_id)
    return f"{rig.base_url}/ticket/{ticket_id}/status?access={access}"


def _new_app_key(base_url: str) -> str:
    created = httpx.post(
        f"{base_url}/apps",
        json={"name": "other-origin", "scopes": ["/"]},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["api_key"])


def _cross_origin_report(driver: webdriver.Chrome) -> dict[str, Any]:
    wait_for(driver, lambda d: css(d, "#out").get_attribute("data-done") == "yes", timeout=60)
    report: dict[str, Any] = json.loads(css(driver, "#out").text)
    return report


def _page_fetch(driver: webdriver.Chrome, path: str, method: str, body: Any) -> dict[str, Any]:
    """A fetch from the page itself: same origin, its cookie, and no CSRF header."""
    answer: dict[str, Any] = driver.execute_async_script(
        """
        const [path, method, body, done] = arguments;
        const init = { method, headers: { "Content-Type": "application/json" } };
        if (body !== null) init.body = JSON.stringify(body);
        fetch(path, init)
          .then(async (r) => done({ status: r.status, body: await r.json().catch(() => null) }))
          .catch((e) => done({ status: 0, error: String(e) }));
        """,
        path,
        method,
        body,
    )
    return answer


CROSS_ORIGIN_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another origin</title>
<link rel="icon" href="data:,"><script type="module" src="client.js"></script></head>
<body><h1>A page on another origin</h1><pre id="out">working…</pre></body></html>
"""

CROSS_ORIGIN_JS = """
const params = new URLSearchParams(location.search);
const out = document.getElementById("out");
const report = (what) => { out.textContent = JSON.stringify(what); out.dataset.done = "yes"; };
const FINAL = ["ready", "failed", "cancelled", "expired"];

async function run() {
  let created;
  try {
    const response = await fetch(`${params.get("api")}/download`, {
      method: "POST",
      headers: { Authorization: `Bearer ${params.get("key")}`, "Content-Type": "application/json" },
      body: JSON.stringify({ paths: JSON.parse(params.get("paths")), archive: "zip" }),
    });
    created = await response.json();
    if (response.status !== 202) return report({ stage: "post", status: response.status, body: created });
  } catch (error) {
    return report({ stage: "post", error: error.name });
  }
  const statuses = await new Promise((resolve) => {
    const seen = [];
    const source = new EventSource(created.status_url);
    source.addEventListener("status", (message) => {
      const status = JSON.parse(message.data).status;
      seen.push(status);
      if (FINAL.includes(status)) { source.close(); resolve(seen); }
    });
  });
  const result = await (await fetch(created.result_url)).json();
  report({ stage: "done", statuses, parts: (result.parts || []).map((part) => part.url) });
}
run();
"""
