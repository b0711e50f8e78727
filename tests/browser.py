"""A real Streamlit server and headless Chromium (Debian package) driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = os.environ.get("XAMI_CHROMIUM", "/usr/bin/chromium")
# Generous waits for content: a 2-core CI box running Streamlit, Chromium and kaleido can take many
# seconds to draw a chart. Playwright's own defaults are 30 s for waits and 5 s for expect().
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` on 127.0.0.1, stopped on close."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(self.port), "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
        if args:
            cmd += ["--", *args]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # git ignores it: a fresh clone has none
        self.log = open(SCREENSHOTS / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.close()
        raise RuntimeError(f"streamlit did not start on port {self.port}; see {self.log.name}")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Browser:
    """A Chromium page on the test server, with helpers for Streamlit."""

    def __init__(self, server: Server):
        if not Path(CHROMIUM).exists():
            raise RuntimeError(f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install chromium)")
        self.server = server
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        self.context = self._browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        self.context.set_default_timeout(WAIT_MS)  # every wait_for, click, goto and wait_for_function
        self.page: Page = self.context.new_page()

    def open(self, path: str = "", wait_for: str | None = None, timeout: float = WAIT_MS) -> Page:
        """Load a page of the app and wait until the app has finished running."""
        self.page.goto(f"{self.server.url}/{path.lstrip('/')}")
        if wait_for:
            self.page.get_by_text(wait_for).first.wait_for(timeout=timeout)
        self.settle(timeout)
        return self.page

    def settle(self, timeout: float = WAIT_MS) -> None:
        """Wait for the script run to finish (Streamlit shows a status widget while running)."""
        self.page.wait_for_timeout(300)
        self.page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
        self.page.wait_for_timeout(300)

    def scroll_to(self, locator: Locator, timeout: float = WAIT_MS) -> None:
        """Scroll `locator` into view, again when a rerun has just replaced its element.

        A resize or a late script run makes Streamlit draw a chart anew: the element Playwright found
        is detached before it scrolls ("Element is not attached to the DOM"); the locator finds the new one.
        """
        deadline = time.monotonic() + timeout / 1000
        while True:
            try:
                locator.scroll_into_view_if_needed(timeout=10_000)
                return
            except PlaywrightError as exc:
                if "not attached" not in str(exc) or time.monotonic() > deadline:
                    raise
                self.page.wait_for_timeout(250)

    def pick(self, select: Locator, option: str, attempts: int = 3) -> None:
        """Choose `option` in the multiselect `select`, opening it again when a rerun closed the list; then close it."""
        for attempt in range(attempts):
            select.click()
            try:
                self.page.get_by_role("option", name=option, exact=True).click(timeout=20_000)
                break
            except PlaywrightTimeout:
                if attempt == attempts - 1:
                    raise
                self.page.keyboard.press("Escape")
                self.settle()
        self.page.keyboard.press("Escape")
        self.settle()

    def screenshot(self, name: str, full_height: int | None = None) -> Path:
        """Save a PNG under tests/screenshots/ (git-ignored); returns its path."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        if full_height:
            self.page.set_viewport_size({"width": 1400, "height": full_height})
            self.settle()
        out = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(out))
        return out

    def close(self) -> None:
        self.context.close()
        self._browser.close()
        self._pw.stop()
