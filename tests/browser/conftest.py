"""Real-browser fixtures shared by every browser test: the dashboard server, headless Chromium, a page.

``app_server`` starts ``streamlit run app.py`` on 127.0.0.1 with a free port and a clean environment,
waits for ``/_stcore/health`` and always terminates the server's process group at teardown.
``ui`` wraps a fresh page with helpers: open a URL, wait until the app is idle, navigate, assert that
no exception element is shown, and save a screenshot under test-artifacts/screenshots/.
``record_requests`` (fixture ``request_log``) records every request a page makes, to assert that none leaves
the server's own address.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
#: Model loading and a first forward pass on 2 CPU cores take a while on a cold server.
RUN_TIMEOUT_S = 240.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONUNBUFFERED"] = "1"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:]


@contextmanager
def running_server(home: Path, log_name: str = "streamlit-server.log",
                   env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``streamlit run app.py`` on 127.0.0.1 (a free port, PREPSCOPE_HOME=``home``, and ``env`` added to a
    clean environment), wait until it is healthy (no request to the app itself is made), yield its base URL and
    always stop its process group."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("playwright is not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log_path = ARTIFACTS / log_name
    cmd = [
        _python(), "-m", "streamlit", "run", "app.py",
        "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        # its own PREPSCOPE_HOME: runs database, feature cache and trained lab models stay out of ~/.cache
        server_env = {**_clean_env(), "PREPSCOPE_HOME": str(home), **(env or {})}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy in 90 s:\n{_tail(log_path)}")
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dashboard server started for this test session (stopped at teardown), with its own
    PREPSCOPE_HOME (runs database and feature cache) under the test's temporary folder."""
    with running_server(tmp_path_factory.mktemp("browser-home")) as url:
        yield url


@pytest.fixture
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a dashboard server started for this one test, which has not served any page yet."""
    with running_server(tmp_path_factory.mktemp("fresh-home"), "streamlit-fresh-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():  # noqa: ANN201 - playwright Browser
    """Headless Debian Chromium driven by playwright (one per session)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class UI:
    """A browser page on the dashboard, with the waits and checks every browser test needs."""

    def __init__(self, page, base_url: str) -> None:  # noqa: ANN001 - playwright Page
        self.page = page
        self.base_url = base_url

    def open(self, query: str = "", path: str = "") -> UI:
        """Load ``base_url/path?query`` and wait until the app is idle."""
        url = f"{self.base_url}/{path.lstrip('/')}" + (f"?{query.lstrip('?')}" if query else "")
        self.page.goto(url)
        return self.wait_idle()

    def wait_idle(self, timeout_s: float = RUN_TIMEOUT_S) -> UI:
        """Wait until the app has rendered and no script run is in progress (stable for ~1 s)."""
        page = self.page
        page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
        page.wait_for_selector('[data-testid="stSidebar"]', timeout=timeout_s * 1000)
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < 4:
            if time.monotonic() > deadline:
                raise AssertionError(f"the app was still running after {timeout_s:.0f} s")
            running = page.locator('[data-testid="stStatusWidget"]').count() > 0 or (
                page.locator('[data-testid="stApp"][data-test-script-state="running"]').count() > 0
            )
            quiet = 0 if running else quiet + 1
            page.wait_for_timeout(250)
        return self

    def nav_titles(self) -> list[str]:
        """Titles of the pages listed in the sidebar navigation, in order."""
        links = self.page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]  # drop the icon glyph name

    def go(self, title: str, *, idle: bool = True) -> UI:
        """Click a page in the sidebar navigation and wait until it has run (``idle=False``: only until its address
        has changed — a page polling a running job is never idle for long, so wait for what it shows instead)."""
        nav = self.page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
        link = nav.filter(has_text=title).first
        href = link.get_attribute("href") or ""
        link.click()
        if not idle:
            path = urllib.parse.urlparse(href).path.rstrip("/")
            self.page.wait_for_url(lambda url: urllib.parse.urlparse(url).path.rstrip("/") == path,
                                   timeout=RUN_TIMEOUT_S * 1000)
            return self
        self.page.wait_for_timeout(300)
        return self.wait_idle()

    def set_number(self, label: str, value: int) -> UI:
        """Type ``value`` into the main area's number input labelled ``label`` and wait for the rerun."""
        box = self.page.locator('[data-testid="stMain"]').get_by_role("spinbutton", name=label)
        box.fill(str(value))
        box.press("Enter")
        self.page.wait_for_timeout(300)
        return self.wait_idle()

    def select(self, label: str, option: str) -> UI:
        """Choose ``option`` in the main area's select box labelled ``label`` and wait for the rerun."""
        self.page.locator('[data-testid="stMain"]').get_by_role("combobox", name=label).click()
        self.page.get_by_role("option").filter(has_text=option).first.click()
        self.page.wait_for_timeout(300)
        return self.wait_idle()

    def assert_no_exception(self) -> None:
        """No Streamlit exception element anywhere on the page."""
        exc = self.page.locator('[data-testid="stException"]')
        assert exc.count() == 0, exc.first.inner_text()

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


class RequestLog:
    """Every request a browser page makes from the moment this is attached (playwright ``page.on("request")``)."""

    def __init__(self, page, base_url: str) -> None:  # noqa: ANN001 - playwright Page
        self.host = urllib.parse.urlsplit(base_url).hostname
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def foreign(self) -> list[str]:
        """The distinct requested URLs whose host is not the server's (data: and blob: URLs never leave the page)."""
        out = []
        for url in self.urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("data", "blob") and parts.hostname != self.host and url not in out:
                out.append(url)
        return out

    def assert_all_local(self) -> None:
        """No request went to a host other than the server's own address."""
        foreign = self.foreign()
        assert not foreign, f"{len(foreign)} request(s) left {self.host}: {foreign[:5]}"


def record_requests(ui: UI) -> RequestLog:
    """Start recording every request of ``ui``'s page (attach it before the first ``ui.open``)."""
    return RequestLog(ui.page, ui.base_url)


@pytest.fixture
def ui(browser, app_server: str) -> Iterator[UI]:  # noqa: ANN001
    """A fresh browser context and page on the dashboard (closed after the test)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        yield UI(context.new_page(), app_server)
    finally:
        context.close()


@pytest.fixture
def new_ui(browser, app_server: str) -> Iterator:  # noqa: ANN001
    """Factory of further independent pages (each in its own browser context, like another user)."""
    contexts = []

    def make() -> UI:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        contexts.append(context)
        return UI(context.new_page(), app_server)

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def request_log(ui: UI) -> RequestLog:
    """The requests of the ``ui`` page, recorded from before its first load."""
    return record_requests(ui)
