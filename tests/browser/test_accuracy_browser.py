"""The Accuracy page in headless Chromium: a small built-in sweep runs to a results table, interval
chart and confusion matrices without an exception; a reload keeps the result with the settings that produced it
(the sweep is a job this browser started), and another browser opens a plain page.
Screenshots: test-artifacts/screenshots/accuracy-results.png, accuracy-reloaded.png."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_builtin_digits_sweep_shows_results_and_a_reload_keeps_them(ui, new_ui) -> None:  # noqa: ANN001
    ui.open()
    ui.go("Accuracy")
    main = ui.page.locator('[data-testid="stMain"]')
    per_class = main.get_by_role("spinbutton", name="Items per class (0 = automatic)")
    per_class.fill("10")
    per_class.press("Enter")
    ui.wait_idle()
    main.get_by_role("button", name="Run sweep").click()
    main.get_by_text("Provenance: ").first.wait_for(timeout=300_000)
    ui.wait_idle()
    ui.assert_no_exception()
    assert main.get_by_text("digits").count() >= 1
    assert main.get_by_text("McNemar's exact test").count() >= 1
    # the interval bar chart plus one confusion matrix per variant
    assert main.locator('[data-testid="stPlotlyChart"]').count() >= 1 + 2
    ui.page.set_viewport_size({"width": 1440, "height": 2200})
    ui.page.wait_for_timeout(800)
    ui.screenshot("accuracy-results")
    # a reload (twice): the tab's session is new, the browser is the same; the result is back, with its settings
    title = main.get_by_text(re.compile(r"Results — Run #\d+ · recorded")).first.inner_text()
    run = re.search(r"Run #\d+", title).group(0)
    shown = main.get_by_text(re.compile(rf"Results — {run} · recorded"))
    ui.page.set_viewport_size({"width": 1440, "height": 1000})
    for _ in range(2):
        ui.page.reload()
        ui.wait_idle()
        shown.first.wait_for(timeout=60_000)
        assert per_class.input_value() == "10"  # not back at the default: the result is current
        assert main.get_by_text(re.compile(r"· out of date")).count() == 0
        ui.assert_no_exception()
    ui.go("Runs")
    ui.go("Accuracy")
    assert shown.count() == 1 and per_class.input_value() == "10"
    ui.screenshot("accuracy-reloaded")
    # another browser opens the page as it is for anyone: not this browser's result
    other = new_ui()
    other.open(path="accuracy")
    other_main = other.page.locator('[data-testid="stMain"]')
    assert other_main.get_by_text(re.compile(rf"Results — {run} · recorded")).count() == 0
    assert other_main.get_by_role("spinbutton", name="Items per class (0 = automatic)").input_value() == "0"
    other.assert_no_exception()
