"""Runs in headless Chromium: a cross-validated sweep on the Accuracy page, a second one after a changed setting
(other folds; the first is marked out of date meanwhile), the Runs page listing both, a run reopened from a link
by another browser, and the two compared. Screenshots: test-artifacts/screenshots/runs-*.png, accuracy-cv.png."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 300_000


def _main(ui):  # noqa: ANN001, ANN202 - playwright Locator
    return ui.page.locator('[data-testid="stMain"]')


def _shot(ui, name: str, height: int = 3000) -> None:  # noqa: ANN001
    """Screenshot with a tall viewport (the app scrolls inside its own container)."""
    ui.page.set_viewport_size({"width": 1440, "height": height})
    ui.page.wait_for_timeout(1000)
    ui.screenshot(name)
    ui.page.set_viewport_size({"width": 1440, "height": 1000})


def _select(ui, label: str, option: str) -> None:  # noqa: ANN001
    ui.wait_idle()
    for attempt in range(3):  # on a loaded machine a rerun finishing after the click can redraw the closed box
        _main(ui).get_by_role("combobox", name=label).click()
        found = ui.page.get_by_role("option").filter(has_text=option).first
        try:
            found.wait_for(timeout=10_000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: open it again
            if attempt == 2:
                raise
            ui.page.keyboard.press("Escape")
            ui.wait_idle()
            continue
        found.click()
        break
    ui.page.wait_for_timeout(300)
    ui.wait_idle()


def _number(ui, label: str, value: int) -> None:  # noqa: ANN001
    box = _main(ui).get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Enter")
    ui.page.wait_for_timeout(300)
    ui.wait_idle()


def _run_sweep(ui) -> int:  # noqa: ANN001
    main = _main(ui)
    main.get_by_role("button", name="Run sweep").click()
    ui.page.wait_for_timeout(500)
    main.get_by_text("Provenance: ").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    header = main.get_by_text(re.compile(r"Results — Run #\d+")).first.inner_text()
    return int(re.search(r"Run #(\d+)", header).group(1))


def test_sweep_then_open_reopen_and_compare_runs(ui, new_ui) -> None:  # noqa: ANN001
    ui.open()
    ui.go("Accuracy")
    main = _main(ui)
    _number(ui, "Items per class (0 = automatic)", 5)
    _select(ui, "Test items", "K-fold cross-validation")
    _number(ui, "Folds (K)", 5)
    assert main.get_by_text("50 test items").count() >= 1  # said before running
    first = _run_sweep(ui)
    assert main.get_by_text("Accuracy per fold").count() == 1
    assert main.get_by_text("Shown as one row:").count() >= 1  # digits are one-channel: rgb = gray-replicate …
    assert main.get_by_text("None", exact=True).count() == 0
    _shot(ui, "accuracy-cv", 4200)

    _number(ui, "Folds (K)", 4)  # the same items (the seed would draw another subset), other folds
    assert main.get_by_text(re.compile("out of date")).count() >= 1
    second = _run_sweep(ui)
    assert second == first + 1 and main.get_by_text(re.compile("out of date")).count() == 0

    ui.go("Runs")
    ui.assert_no_exception()
    assert main.get_by_text(f"Results — Run #{second}").count() == 1  # the newest opens
    listing = main.locator('[data-testid="stDataFrame"]').first
    assert listing.is_visible()
    _shot(ui, "runs-open", 4200)

    other = new_ui()  # another browser reopens the first run from a link
    other.open(path="runs", query=f"run={first}")
    other.assert_no_exception()
    _main(other).get_by_text(f"Results — Run #{first}").wait_for(timeout=WAIT_MS)
    _shot(other, "runs-reopened", 2400)

    _select(ui, "Compare with (same dataset)", f"#{first} ")
    main.get_by_role("tab", name=f"Compare #{second} with #{first}").click()
    ui.wait_idle()
    main.get_by_text("50 shared items").first.wait_for(timeout=WAIT_MS)
    ui.assert_no_exception()
    assert main.get_by_text("What differs: evaluation: stratified-kfold ×4 → stratified-kfold ×5").count() == 1
    _shot(ui, "runs-compare", 2200)
