"""The Autoencoder lab in headless Chromium: the default single-image configuration (four regimes on the
built-in noisy texture) and the learned gray (built-in photos; 4 of its 20 default epochs: the page's path is the
same, and the suite's time is not spent on the other 16) train to their results, and the trained denoiser joins
the variant set. Screenshots: test-artifacts/screenshots/autoencoder-lab-*.png."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRAIN_MS = 600_000


def _shot(ui, name: str, height: int = 2600) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": height})
    ui.page.wait_for_timeout(800)
    ui.screenshot(name)
    ui.page.set_viewport_size({"width": 1440, "height": 900})


def test_lab_trains_the_default_configurations(ui) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    ui.open()
    ui.go("Autoencoder lab")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_role("tab", name="Single noisy image").click()
    main.get_by_role("button", name="Train the regimes").click()
    main.get_by_text("Regimes side by side").wait_for(timeout=TRAIN_MS)
    ui.wait_idle(TRAIN_MS / 1000)
    ui.assert_no_exception()
    table = main.locator('[data-testid="stDataFrame"]').first
    assert table.is_visible()
    # input + clean, then output and residual per regime; the loss and PSNR-along-training charts
    assert main.locator('[data-testid="stImage"]').count() >= 2 + 2 * 4
    assert main.locator('[data-testid="stPlotlyChart"]').count() >= 2
    assert main.get_by_text("The noisy input itself: PSNR vs clean").count() == 1
    _shot(ui, "autoencoder-lab-single")

    main.get_by_role("button", name="Save and use this denoiser in my variants").click()
    ui.wait_idle()
    ui.assert_no_exception()
    assert main.get_by_text("Added the variant 'denoise learned:plain-denoiser'").count() == 1
    sidebar = ui.page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("denoise learned:plain-denoiser").count() >= 1

    main.get_by_role("tab", name="Learned grayscale").click()
    ui.set_number("Epochs", 4)
    main.get_by_role("button", name="Train learned gray").click()
    main.get_by_text("vs the luma rules").wait_for(timeout=TRAIN_MS)
    ui.wait_idle(TRAIN_MS / 1000)
    ui.assert_no_exception()
    assert main.get_by_text("Isoluminant pattern").count() == 1
    _shot(ui, "autoencoder-lab-gray")
