"""Issue 9 in headless Chromium: the Start page's storage question opens Compare on a sound with the storage
preset; every colormapped variant shows its transfer curves, multi-window and deltas their three channels,
and every variant its line about the model's training recipe. Screenshots at 1440x900 and full height."""

from __future__ import annotations

import pytest

from core.preprocess.presets import get_preset

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 240_000


def test_storage_question_opens_compare_with_curves_and_channels(ui) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    ui.open()
    main = ui.page.locator('[data-testid="stMain"]')
    ui.page.set_viewport_size({"width": 1440, "height": 2600})
    ui.page.wait_for_timeout(800)
    ui.screenshot("start-questions")
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    main.get_by_text("Why would a spectrogram saved as an RGB image").wait_for(timeout=WAIT_MS)
    main.locator(".st-key-start_storage button").click()
    main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    assert "preset=storage" in ui.page.url and "sample=sound" in ui.page.url
    ui.page.mouse.move(1400, 20)  # no hover toolbar over the images
    ui.page.wait_for_timeout(800)
    ui.screenshot("storage-compare-1440x900")
    n_colormaps = sum(v.channels == "colormap" for v in get_preset("storage"))
    n_variants = len(get_preset("storage"))
    # each variant's spectrogram (with time and frequency axes), each colormap's curves, the similarity heatmap
    assert main.locator('[data-testid="stPlotlyChart"]').count() == n_variants + n_colormaps + 1
    assert main.get_by_text("channel 2: 50 ms window, 25 ms hop").count() == 1
    assert main.get_by_text("channel 3: delta-delta").count() == 1
    assert main.get_by_text("⚠ recipe:").count() == len(get_preset("storage"))  # none follows the recipe
    ui.page.set_viewport_size({"width": 1440, "height": 3400})
    ui.page.wait_for_timeout(1000)
    ui.screenshot("storage-compare-full")
