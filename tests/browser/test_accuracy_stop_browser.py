"""Stopping a sweep on the Accuracy page, in the real browser (issue 18): the click ends the run, and the page says
it was stopped (before the fix the page came back with no word: the stop's rerun ended the run before the sweep
could raise its "stopped" error)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_stopping_a_sweep_says_stopped(ui) -> None:  # noqa: ANN001
    ui.open(path="accuracy")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_role("button", name="Run sweep").click()  # every digit under seven variants: long enough to stop
    stop = main.get_by_role("button", name="Stop")
    stop.wait_for(timeout=60_000)
    ui.page.wait_for_timeout(1500)
    stop.click()
    notice = main.get_by_text("Stopped: the sweep was stopped before it finished")
    notice.wait_for(timeout=60_000)  # the sweep is a job of the server: it ends when its work next looks
    ui.wait_idle()
    ui.assert_no_exception()
    assert notice.count() == 1
    assert main.get_by_text("Provenance: ").count() == 0  # no result of the stopped sweep
    ui.screenshot("accuracy-stopped")
