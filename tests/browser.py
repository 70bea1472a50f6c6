"""A real headless Chromium for the page's tests: screenshots, the console, downloads, SSE records."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parent.parent / ".run" / "screenshots"
DESKTOP = (1280, 800)
MOBILE = (360, 740)

T = TypeVar("T")

# Wraps window.EventSource before any of the page's scripts run, recording every message a
# stream delivers (and its opens and errors) in window.__sse; the page itself has no test hooks.
RECORD_EVENT_SOURCE = """
(() => {
  const Native = window.EventSource;
  const records = (window.__sse = []);
  const TYPES = ["status", "progress", "position", "part_ready", "resync", "message"];
  class RecordingEventSource extends Native {
    constructor(url, init) {
      super(url, init);
      const source = records.filter((r) => r.kind === "connect").length;
      records.push({ kind: "connect", source, url: String(url) });
      for (const type of TYPES) {
        this.addEventListener(type, (message) =>
          records.push({ kind: "message", source, type, id: message.lastEventId, data: message.data }),
        );
      }
      this.addEventListener("open", () => records.push({ kind: "open", source }));
      this.addEventListener("error", () =>
        records.push({ kind: "error", source, readyState: this.readyState }),
      );
    }
  }
  window.EventSource = RecordingEventSource;
})();
"""


def chromium(downloads: Path, *, record_events: bool = False) -> webdriver.Chrome:
    """Headless Chromium from Debian (selenium-manager never runs: both paths are given)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-GB",
        "--no-first-run",
        "--disable-search-engine-choice-screen",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=ChromeService(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    if record_events:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_EVENT_SOURCE})
    set_viewport(driver, DESKTOP)
    return driver


@contextmanager
def opened(downloads: Path, *, record_events: bool = False) -> Iterator[webdriver.Chrome]:
    driver = chromium(downloads, record_events=record_events)
    try:
        yield driver
    finally:
        driver.quit()


def set_viewport(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def screenshot(driver: webdriver.Chrome, name: str, *, show: str | None = None) -> list[Path]:
    """``name``-desktop.png and ``name``-mobile.png in .run/screenshots; the element matching the CSS
    selector ``show`` is scrolled into view in each."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for label, size in (("desktop", DESKTOP), ("mobile", MOBILE)):
        set_viewport(driver, size)
        if show is not None:
            driver.execute_script(
                "document.querySelector(arguments[0])?.scrollIntoView({block: 'center'})", show
            )
        else:
            driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.15)  # a frame or two for the layout after the resize
        path = SCREENSHOTS / f"{name}-{label}.png"
        path.write_bytes(driver.get_screenshot_as_png())
        saved.append(path)
    set_viewport(driver, DESKTOP)
    return saved


def wait_for(driver: webdriver.Chrome, check: Callable[[webdriver.Chrome], T], timeout: float = 30) -> T:
    """``check``'s first truthy answer (stale elements are tried again)."""
    wait: WebDriverWait[webdriver.Chrome] = WebDriverWait(
        driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    )
    try:
        return wait.until(check)
    except TimeoutException as error:
        raise AssertionError(f"waited {timeout} s in vain; the page says:\n{page_text(driver)}") from error


def page_text(driver: webdriver.Chrome) -> str:
    text: str = driver.execute_script("return document.body.innerText")
    return text


def visible(driver: webdriver.Chrome, selector: str) -> WebElement | None:
    """The first element matching ``selector`` that is displayed, or None."""
    for element in driver.find_elements("css selector", selector):
        if element.is_displayed():
            return element
    return None


def console_errors(driver: webdriver.Chrome, allowed: tuple[str, ...] = ()) -> list[str]:
    """Console messages at level SEVERE, less those matching one of the ``allowed`` patterns
    (failed loads the test provoked on purpose: a 401 before signing in, a refused call)."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        message = str(entry["message"])
        if not any(re.search(pattern, message) for pattern in allowed):
            errors.append(message)
    return errors


def recorded_events(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """What the EventSource wrapper saw: connects, opens, errors and messages, in order."""
    records: list[dict[str, Any]] = driver.execute_script("return window.__sse || []")
    return records


def wait_for_download(folder: Path, name: str, timeout: float = 60) -> Path:
    """The file ``name`` once Chromium has finished writing it (no .crdownload left)."""
    deadline = time.monotonic() + timeout
    target = folder / name
    while time.monotonic() < deadline:
        partial = list(folder.glob("*.crdownload"))
        if target.is_file() and not partial:
            return target
        time.sleep(0.1)
    listing = json.dumps(sorted(path.name for path in folder.iterdir()))
    raise AssertionError(f"{name} was not downloaded into {folder} in {timeout} s: {listing}")


# Driving the page as a person


def css(driver: webdriver.Chrome, selector: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, selector)


def row(path: str) -> str:
    return f'#entries li[data-path="{path}"]'


def open_folder(driver: webdriver.Chrome, path: str) -> None:
    """Opens the folder ``path`` (shown in the current listing) with the keyboard."""
    css(driver, f"{row(path + '/')} button.name").send_keys("\n")
    wait_for(driver, lambda d: css(d, "#crumbs [aria-current]").text == path.rsplit("/", 1)[-1])


def go_up_to(driver: webdriver.Chrome, crumb: str) -> None:
    driver.find_element(By.XPATH, f"//ol[@id='crumbs']//button[normalize-space()='{crumb}']").click()
    wait_for(driver, lambda d: css(d, "#crumbs [aria-current]").text == crumb)


def tick(driver: webdriver.Chrome, path: str) -> None:
    box = css(driver, f"{row(path)} input[type=checkbox]")
    box.send_keys(" ")  # Space, as the keyboard would
    wait_for(driver, lambda d: box.is_selected())


def set_options(driver: webdriver.Chrome, **fields: str) -> None:
    if css(driver, "#options").get_attribute("open") is None:
        css(driver, "#options summary").click()
    if "name" in fields:
        css(driver, "#opt-name").clear()
        css(driver, "#opt-name").send_keys(fields["name"])
    if "compression" in fields:
        Select(css(driver, "#opt-compression")).select_by_value(fields["compression"])
    if "split" in fields:
        css(driver, "#opt-split").clear()
        css(driver, "#opt-split").send_keys(fields["split"])


def press_download(driver: webdriver.Chrome) -> None:
    count = len(driver.find_elements(By.CSS_SELECTOR, "#tickets li.ticket"))
    css(driver, "#download").click()
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tickets li.ticket")) > count)


def card(driver: webdriver.Chrome, name: str) -> Any:
    return driver.find_element(By.XPATH, f"//ul[@id='tickets']/li[.//h3[normalize-space()='{name}']]")


def card_status(driver: webdriver.Chrome, name: str) -> str:
    return str(card(driver, name).get_attribute("data-status"))


def shows_progress(driver: webdriver.Chrome, name: str) -> bool:
    """The card shows figures from a progress event: files and bytes done of their totals."""
    ticket = card(driver, name)
    figures = ticket.find_element(By.CSS_SELECTOR, ".ticket-figures")
    bar = ticket.find_element(By.CSS_SELECTOR, "progress")
    is_preparing = ticket.get_attribute("data-status") == "preparing"
    return is_preparing and bar.is_displayed() and " of " in figures.text


def ticket_id_of(driver: webdriver.Chrome, name: str) -> str:
    heading = card(driver, name).find_element(By.CSS_SELECTOR, "h3").get_attribute("id")
    return str(heading).removeprefix("ticket-")
