"""Activation maps in headless Chromium: the Compare page's toggle turns them on for the `channels` preset on
the bundled cat photo; the maps, their one color bar and the numbers render; a screenshot is saved."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 300_000


def test_toggle_turns_on_activation_maps_for_the_channels_preset(ui) -> None:  # noqa: ANN001
    ui.open("sample=chelsea&preset=channels")
    ui.go("Compare")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
    charts_before = main.locator('[data-testid="stPlotlyChart"]').count()
    assert main.get_by_text("deletion AUC").count() == 0
    main.get_by_text("Activation maps: where the network looks under each variant").click()
    ui.wait_idle(timeout_s=WAIT_MS / 1000)
    main.get_by_text("Download maps (PNG)").wait_for(timeout=WAIT_MS)
    ui.assert_no_exception()
    assert main.locator('[data-testid="stPlotlyChart"]').count() == charts_before + 2  # maps, curves (expander)
    assert main.get_by_text("Grad-CAM at layer head of efficientnet_lite0").count() == 1
    maps = main.locator('[data-testid="stPlotlyChart"]').nth(charts_before)
    maps.scroll_into_view_if_needed()
    assert maps.locator(".colorbar").count() == 1  # one color scale for every map
    assert "compare_cam=1" in ui.page.url
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    ui.page.wait_for_timeout(1200)
    ui.screenshot("compare-activation-maps")
    ui.page.set_viewport_size({"width": 1440, "height": 3600})
    ui.page.wait_for_timeout(1200)
    ui.screenshot("compare-activation-maps-full")


def test_accuracy_page_compares_two_models(ui) -> None:  # noqa: ANN001
    ui.open("preset=channels")
    ui.go("Accuracy")
    main = ui.page.locator('[data-testid="stMain"]')
    ui.set_number("Items per class (0 = automatic)", 6)
    models = main.locator('[data-testid="stMultiSelect"]').first
    models.click()
    ui.page.get_by_role("option", name="mobilenet_v3_small (untrained baseline)").click()
    ui.page.keyboard.press("Escape")
    ui.wait_idle()
    main.get_by_role("button", name="Run sweep").click()
    main.get_by_text(re.compile(r"Results — model × variant · runs #\d+, #\d+")).wait_for(timeout=WAIT_MS)
    ui.wait_idle(timeout_s=WAIT_MS / 1000)
    ui.assert_no_exception()
    assert main.get_by_text("Provenance: models efficientnet_lite0, mobilenet_v3_small").count() == 1
    tabs = main.get_by_role("tab")
    labels = tabs.all_inner_texts()
    assert labels[0] == "Model × variant" and len(labels) == 3
    first, second = (int(re.search(r"run #(\d+)", t).group(1)) for t in labels[1:])
    assert labels[1].startswith("efficientnet_lite0") and labels[2].startswith("mobilenet_v3_small")
    assert second == first + 1  # one recorded run per model
    grouped = main.locator('[data-testid="stPlotlyChart"]').first  # the grouped chart opens the first tab
    assert grouped.locator(".legendtext").all_text_contents() == ["efficientnet_lite0", "mobilenet_v3_small"]
    ui.page.set_viewport_size({"width": 1440, "height": 1800})
    ui.page.wait_for_timeout(1000)
    ui.screenshot("accuracy-models")
    tabs.nth(2).click()  # one model's own run: its results table, items and provenance
    ui.page.wait_for_timeout(800)
    assert main.get_by_text(f"run #{second}").count() >= 1
    ui.page.set_viewport_size({"width": 1440, "height": 3200})
    ui.page.wait_for_timeout(1200)
    ui.screenshot("accuracy-models-tab")


def test_accuracy_page_reestimates_batchnorm_within_folds(ui) -> None:  # noqa: ANN001
    ui.open("preset=channels")
    ui.go("Accuracy")
    main = ui.page.locator('[data-testid="stMain"]')
    ui.set_number("Items per class (0 = automatic)", 4)
    ui.select("Test items", "K-fold cross-validation")
    ui.set_number("Folds (K)", 2)
    main.get_by_text("Also re-estimate BatchNorm statistics per variant (AdaBN)").click()
    ui.wait_idle()
    assert main.get_by_text(re.compile("BatchNorm re-estimation: 2 re-estimations per distinct variant")).count() == 1
    main.get_by_role("button", name="Run sweep").click()
    main.get_by_text("BatchNorm re-estimation (AdaBN)").wait_for(timeout=WAIT_MS)
    ui.wait_idle(timeout_s=WAIT_MS / 1000)
    ui.assert_no_exception()
    assert main.get_by_text("Accuracy per fold").count() == 1
    assert main.get_by_text(re.compile(r"each fold's training side \(BN-shift measured on fold 1's\)")).count() == 1
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    main.get_by_text("BatchNorm re-estimation (AdaBN)").scroll_into_view_if_needed()
    ui.page.wait_for_timeout(800)
    ui.screenshot("accuracy-adabn")
    ui.page.set_viewport_size({"width": 1440, "height": 4200})
    ui.page.wait_for_timeout(1200)
    ui.screenshot("accuracy-adabn-full")
