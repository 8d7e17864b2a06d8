"""The dashboard as a user feels it: Chromium (Playwright) against the real server, each action also measured on a
minimal Streamlit app in the same run, printed as medians and as ratios to the minimal app.

Actions (wall time in the browser, from the action until the app has finished running and shows its result):

* cold first render: a freshly started server's first page (the Start page; the minimal app's page), until its
  title is drawn;
* first render: a new browser session on a running server, until the title is drawn and the run is over;
* toggle: a toggle on Compare (cached results: rendering only) vs a toggle on the minimal app;
* page switch: Compare -> Feature maps via the navigation (cached results) vs switching between two minimal pages;
* first results, 1 session and 4 concurrent sessions: a link to Compare with a variant set no one has computed
  (the ``channels`` preset with a per-run noise step, so the engine's cache cannot answer) until the reference's
  top-1 is shown, vs a minimal page that loads the same model and calls ``core.inspect.engine.inspect`` on the
  same input and variants and writes the top-1.

Run: ``.venv/bin/python benchmarks/browser.py [--repeats N]``. Needs /usr/bin/chromium and playwright; starts and
stops its own servers on 127.0.0.1. The machine's load average is printed beside the numbers (``uptime``): on a
shared machine, compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
SAMPLE = "chelsea"
TIMEOUT_MS = 600_000

MINIMAL_APP = '''
import streamlit as st

def home():
    st.title("minimal")
    st.toggle("a toggle", key="t")
    st.write("on" if st.session_state.get("t") else "off")

def other():
    st.title("other")
    st.write("another page")

def results():
    import sys
    sys.path.insert(0, {root!r})
    from components.session import decode_sample, encode_variants
    from components.session import decode_variants
    from core.inspect.engine import inspect
    from core.models import load_model

    @st.cache_resource
    def model():
        return load_model("efficientnet_lite0")

    st.title("results")
    variants = decode_variants(dict(st.query_params))
    result = inspect(decode_sample(st.query_params.get("sample", "chelsea")), variants, model())
    top = result.variants[0].top5[0]
    st.write(f"Reference top-1: {{top.label}}")

st.navigation([st.Page(home, title="Home", default=True), st.Page(other, title="Other"),
               st.Page(results, title="Results", url_path="results")]).run()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(app: Path, cwd: Path, home: Path):  # noqa: ANN201
    """A streamlit server for ``app`` on a free port (its own PREPSCOPE_HOME), stopped on exit; yields its URL once
    healthy (no page has been requested yet)."""
    port = _free_port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(PYTHONUNBUFFERED="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", PREPSCOPE_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"server for {app} did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def idle(page, timeout_ms: int = TIMEOUT_MS) -> None:  # noqa: ANN001
    """Until the app's script run is over (no running state, no status widget) for 3 consecutive polls."""
    deadline = time.monotonic() + timeout_ms / 1000
    quiet = 0
    while quiet < 3:
        if time.monotonic() > deadline:
            raise TimeoutError("the app kept running")
        running = page.locator('[data-testid="stApp"][data-test-script-state="running"]').count() > 0 or \
            page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if running else quiet + 1
        page.wait_for_timeout(50)


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def title(page, text: str) -> None:  # noqa: ANN001
    page.locator("h1").filter(has_text=text).first.wait_for(timeout=TIMEOUT_MS)


def fresh_variants_link(k: int) -> str:
    """``v=…`` for the channels preset with a noise step seeded ``k`` on every variant: a set no cache has seen."""
    from components.session import encode_variants
    from core.preprocess.presets import get_preset
    from core.preprocess.variant import Noise

    variants = [v.replace(degrade=(*v.degrade, Noise(snr_db=60.0, seed=1000 + k))) for v in get_preset("channels")]
    return "&".join(f"{key}={value}" for key, value in encode_variants(variants).items())


def main() -> None:  # noqa: C901 - one measurement after another
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of each action (medians reported)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="prepscope-bench-"))
    minimal = tmp / "minimal_app.py"
    minimal.write_text(MINIMAL_APP.format(root=str(ROOT)))
    real = ROOT / "app.py"
    rows: dict[str, tuple[list[float], list[float]]] = {}
    load_before = os.getloadavg()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])

        def new_page():  # noqa: ANN202
            return browser.new_context(viewport={"width": 1440, "height": 900}).new_page()

        # cold first render: a new server each time
        cold_real, cold_min = [], []
        for i in range(max(1, args.repeats // 2)):
            for app, out, text in ((real, cold_real, "prepscope"), (minimal, cold_min, "minimal")):
                with server(app, ROOT if app == real else tmp, tmp / f"home-cold-{i}") as url:
                    page = new_page()
                    out.append(timed(lambda url=url, page=page, text=text: (page.goto(url), title(page, text))))
                    page.context.close()
        rows["cold first render (fresh server)"] = (cold_real, cold_min)

        with server(real, ROOT, tmp / "home") as real_url, server(minimal, tmp, tmp / "home-min") as min_url:
            warm = new_page()  # load the model and the sample once, as a first visitor would
            warm.goto(f"{real_url}/compare?sample={SAMPLE}&preset=channels")
            warm.get_by_text("Reference top-1:").first.wait_for(timeout=TIMEOUT_MS)
            idle(warm)
            warm_min = new_page()  # the minimal results page loads the same model once, too
            warm_min.goto(f"{min_url}/results?sample={SAMPLE}&preset=channels")
            warm_min.get_by_text("Reference top-1:").first.wait_for(timeout=TIMEOUT_MS)
            warm.context.close()
            warm_min.context.close()
            first_real, first_min = [], []
            for _ in range(args.repeats):
                for url, out, text in ((real_url, first_real, "prepscope"), (min_url, first_min, "minimal")):
                    page = new_page()
                    out.append(timed(lambda url=url, page=page, text=text: (page.goto(url), title(page, text),
                                                                            idle(page))))
                    page.context.close()
            rows["first render (new session)"] = (first_real, first_min)

            # toggle and page switch on a loaded Compare page (results cached) vs the minimal app
            page = new_page()
            page.goto(f"{real_url}/compare?sample={SAMPLE}&preset=channels")
            page.get_by_text("Reference top-1:").first.wait_for(timeout=TIMEOUT_MS)
            idle(page)
            mpage = new_page()
            mpage.goto(min_url)
            title(mpage, "minimal")
            idle(mpage)
            toggle_real, toggle_min = [], []
            for _ in range(args.repeats):
                toggle_real.append(timed(lambda: (page.locator(".st-key-compare_diff__widget label").first.click(),
                                                  page.wait_for_timeout(30), idle(page))))
                toggle_min.append(timed(lambda: (mpage.locator(".st-key-t label").first.click(),
                                                 mpage.wait_for_timeout(30), idle(mpage))))
            rows["toggle"] = (toggle_real, toggle_min)

            switch_real, switch_min = [], []
            nav = '[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]'
            for i in range(args.repeats):
                target = "Feature maps" if i % 2 == 0 else "Compare"
                switch_real.append(timed(lambda target=target: (
                    page.locator(nav).filter(has_text=target).first.click(), page.wait_for_timeout(30),
                    title(page, target), idle(page))))
                mt = "Other" if i % 2 == 0 else "Home"
                switch_min.append(timed(lambda mt=mt: (
                    mpage.locator(nav).filter(has_text=mt).first.click(), mpage.wait_for_timeout(30),
                    title(mpage, "other" if mt == "Other" else "minimal"), idle(mpage))))
            rows["page switch"] = (switch_real, switch_min)
            page.context.close()
            mpage.context.close()

            # time to first results: 1 session, then 4 sessions at once
            k = 0
            for n_sessions in (1, 4):
                real_times, min_times = [], []
                for _ in range(max(1, args.repeats // 2) if n_sessions == 4 else args.repeats):
                    for base, path, out in ((real_url, "compare", real_times), (min_url, "results", min_times)):
                        pages = [new_page() for _ in range(n_sessions)]
                        links = []
                        for _ in pages:
                            k += 1
                            links.append(f"{base}/{path}?sample={SAMPLE}&{fresh_variants_link(k)}")
                        t0 = time.perf_counter()
                        for p, link in zip(pages, links, strict=True):
                            p.goto(link, wait_until="commit")
                        pending = set(range(n_sessions))
                        done: dict[int, float] = {}
                        while pending:
                            for j in list(pending):
                                if pages[j].get_by_text("Reference top-1:").count() > 0:
                                    done[j] = time.perf_counter() - t0
                                    pending.discard(j)
                            if pending:
                                pages[next(iter(pending))].wait_for_timeout(100)
                            if time.perf_counter() - t0 > TIMEOUT_MS / 1000:
                                raise TimeoutError("results did not come")
                        out.extend(done.values())
                        for p in pages:
                            p.context.close()
                rows[f"first results, {n_sessions} session{'s' * (n_sessions > 1)}"] = (real_times, min_times)
        browser.close()

    load_after = os.getloadavg()
    print(f"Chromium {CHROMIUM}, {args.repeats} repeats, sample {SAMPLE}, preset channels (7 variants)")
    print(f"load average (1, 5, 15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; cores: {os.cpu_count()}")
    print(f"{'action':36} {'dashboard (s)':>14} {'minimal (s)':>12} {'ratio':>7}")
    for name, (ours, theirs) in rows.items():
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name:36} {a:14.3f} {b:12.3f} {a / b:7.2f}")


if __name__ == "__main__":
    main()
