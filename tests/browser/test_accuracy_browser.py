"""The Accuracy page in headless Chromium: a small built-in sweep runs to a results table, interval
chart and confusion matrices without an exception. Screenshot: test-artifacts/screenshots/accuracy-results.png."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_builtin_digits_sweep_shows_results(ui) -> None:  # noqa: ANN001
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
