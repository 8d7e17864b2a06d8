"""The result pages in headless Chromium: Compare, Feature maps and Activation statistics render for the
default image without an exception, and the Audio page takes a real spoken-digit WAV (FSDD) through
its uploader to predictions. Full-page screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.preprocess.presets import get_preset

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FSDD = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd"
WAIT_MS = 240_000


def _fsdd_wav() -> Path:
    wavs = sorted(FSDD.glob("7_*_0.wav")) or sorted(FSDD.glob("*.wav"))
    if not wavs:
        pytest.skip(f"FSDD test data not found under {FSDD} (../shared/data/fsdd beside the project)")
    return wavs[0]


def _shot(ui, name: str, height: int = 2600) -> None:  # noqa: ANN001
    """Screenshot with a tall viewport: the app scrolls inside its own container, so a full-page
    screenshot at the normal height would cut the page off."""
    ui.page.set_viewport_size({"width": 1440, "height": height})
    ui.page.wait_for_timeout(800)
    ui.screenshot(name)
    ui.page.set_viewport_size({"width": 1440, "height": 1000})


def _main(ui):  # noqa: ANN001, ANN202 - playwright Locator
    return ui.page.locator('[data-testid="stMain"]')


def test_result_pages_render_for_the_default_image(ui) -> None:  # noqa: ANN001
    ui.open()
    ui.go("Compare")
    main = _main(ui)
    main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
    ui.assert_no_exception()
    assert main.locator('[data-testid="stImage"]').count() >= 2
    # Each colormap column shows its transfer curves; a column of variants with identical inputs ("a = b") is
    # drawn as its first member, so a colormap variant merged behind another draws none.
    captions = main.locator('[data-testid="stImageCaption"]').all_inner_texts()
    heads = {c.split(" = ")[0].removesuffix(" (reference)").strip() for c in captions if ": " not in c}
    n_colormaps = sum(v.channels == "colormap" and v.name in heads for v in get_preset("channels"))
    assert heads, "no image captions found on Compare"
    assert main.locator('[data-testid="stPlotlyChart"]').count() == n_colormaps + 1
    _shot(ui, "results-compare")

    ui.go("Feature maps")
    main.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=WAIT_MS)
    ui.assert_no_exception()
    assert main.get_by_text("ranked once on the reference by mean activation").count() == 1
    _shot(ui, "results-feature-maps")

    ui.go("Activation statistics")
    main.get_by_text("Table (CSV)").first.wait_for(timeout=WAIT_MS)
    ui.assert_no_exception()
    assert main.get_by_text("Table (CSV)").count() == 1
    _shot(ui, "results-statistics")


def test_audio_page_with_an_uploaded_fsdd_wav(ui) -> None:  # noqa: ANN001
    wav = _fsdd_wav()
    ui.open()
    ui.go("Audio")
    main = _main(ui)
    main.get_by_text("is an image, not a sound").wait_for(timeout=WAIT_MS)
    uploader = main.locator('[data-testid="stFileUploader"]').filter(has_text="Upload a sound")
    uploader.locator('input[type="file"]').set_input_files(str(wav))
    main.get_by_text(f"upload: {wav.name}").first.wait_for(timeout=WAIT_MS)
    main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    assert main.locator('[data-testid="stAudio"]').count() == 1
    assert main.get_by_text("8000 Hz").count() >= 1
    _shot(ui, "results-audio")

    main.get_by_role("tab", name="Feature maps").click()
    ui.wait_idle()
    ui.assert_no_exception()
    _shot(ui, "results-audio-feature-maps")
