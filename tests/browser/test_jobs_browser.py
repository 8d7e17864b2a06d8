"""Jobs in headless Chromium (issue 22): a sweep started on the Accuracy page runs as a job of the server; the
page can be left and found again, a second browser sees the same job's progress, the Runs page lists it and stops
it (the starting tab then says it was stopped), and after a server restart on the same runs database a job that
was running shows as interrupted, on Runs and on the page that ran it.
Screenshots: test-artifacts/screenshots/jobs-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import UI, running_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 120_000


def _main(ui: UI):  # noqa: ANN202 - playwright Locator
    return ui.page.locator('[data-testid="stMain"]')


def _page(browser, url: str) -> UI:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    return UI(context.new_page(), url)


def _progress(ui: UI, job: int):  # noqa: ANN202
    """The job's live status on the page (label ``Running the sweep… · job #N``)."""
    return _main(ui).get_by_text(re.compile(rf"Running the sweep… · job #{job}\b"))


def _start_long_sweep(ui: UI) -> None:
    """Start a sweep that lasts minutes on any machine (every digit, the default variants, three networks: the test
    leaves pages, opens a second browser and stops it from Runs while it runs, whatever the machine's speed)."""
    models = _main(ui).locator('[data-testid="stMultiSelect"]').first
    for name in ("efficientnet_lite1", "efficientnet_lite2"):
        models.locator("input").click()
        ui.page.get_by_role("option", name=name, exact=True).click()
        ui.page.keyboard.press("Escape")
        ui.wait_idle()
    assert models.get_by_text("efficientnet_lite2").count() == 1, models.inner_text()
    _main(ui).get_by_role("button", name="Run sweep").click()


def test_a_sweep_job_outlives_its_page_is_seen_in_two_tabs_stopped_from_runs_and_interrupted_by_a_restart(
        browser, tmp_path_factory: pytest.TempPathFactory) -> None:  # noqa: ANN001
    home: Path = tmp_path_factory.mktemp("jobs-home")
    with running_server(home, "streamlit-jobs-server.log") as url:
        a = _page(browser, url)
        a.open(path="accuracy")
        _start_long_sweep(a)
        _progress(a, 1).wait_for(timeout=WAIT_MS)
        # leave the page and come back: the job is still shown, with its progress (pages that poll a job are never
        # idle for long: wait for what they show)
        a.go("Runs", idle=False)
        _main(a).get_by_text(re.compile(r"Job #1 \(sweep\) is (queued|running)")).wait_for(timeout=WAIT_MS)
        a.go("Accuracy", idle=False)
        _progress(a, 1).wait_for(timeout=WAIT_MS)
        # another browser (its own session) opening the page sees the same job's progress
        b = _page(browser, url)
        b.page.goto(f"{url}/accuracy")
        _progress(b, 1).wait_for(timeout=WAIT_MS)
        assert _progress(a, 1).count() == 1 and _progress(b, 1).count() == 1
        a.page.wait_for_timeout(2500)  # a few polls: the bar has moved
        a.assert_no_exception()
        _progress(a, 1).evaluate("e => e.scrollIntoView({block: 'center'})")  # the bar, its line and Stop in view
        a.page.wait_for_timeout(300)
        a.screenshot("jobs-progress")
        # stop it from the Runs page of the second browser
        b.go("Runs", idle=False)
        _main(b).get_by_text(re.compile(r"Job #1 \(sweep\) is running")).wait_for(timeout=WAIT_MS)
        b.screenshot("jobs-runs-running")
        _main(b).get_by_role("button", name="Stop").click()
        _main(b).get_by_text(re.compile(r"Job #1 \(sweep\) is stopped: Stopped")).wait_for(timeout=WAIT_MS)
        b.assert_no_exception()
        b.screenshot("jobs-runs-stopped")
        # the tab that started it says so, with the page's own wording, and shows no result
        _main(a).get_by_text("Stopped: the sweep was stopped before it finished").wait_for(timeout=WAIT_MS)
        assert _main(a).get_by_text("Provenance: ").count() == 0
        # a second sweep is running when the server ends
        _main(a).get_by_role("button", name="Run sweep").click()
        _progress(a, 2).wait_for(timeout=WAIT_MS)
        a.page.wait_for_timeout(1500)
        for ui in (a, b):
            ui.page.context.close()
    with running_server(home, "streamlit-jobs-server-restarted.log") as url:
        c = _page(browser, url)
        c.open(path="runs")
        main = _main(c)
        main.get_by_text(re.compile(r"Job #2 \(sweep\) is interrupted: Interrupted: the server that ran this job "
                                    r"\(host .+, process \d+\) ended before it finished")).wait_for(timeout=WAIT_MS)
        c.assert_no_exception()
        # the page that ran it says so too (a tab reconnected after the restart, a reload), never a silent blank
        c.go("Accuracy")
        _main(c).get_by_text("Job #2: interrupted.").wait_for(timeout=WAIT_MS)
        assert _main(c).get_by_text(re.compile(r"Interrupted: the server that ran this job")).count() == 1
        c.assert_no_exception()
        c.screenshot("jobs-accuracy-interrupted")
        c.screenshot("jobs-runs-interrupted")
        # the job is never shown as running or done on the page that started it
        c.go("Accuracy")
        assert _main(c).get_by_text(re.compile(r"Running the sweep… · job #2")).count() == 0
        c.page.context.close()

