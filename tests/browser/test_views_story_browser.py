"""Views and exports that tell the story, in headless Chromium at 1440×900 (issue 18, part C): Compare merges
variants with identical network inputs into one column and its PNG carries the difference images and the zoom; the
Audio PNG keeps its axes and analysis rate; activation maps lie over a gray input with an opacity switch; the
Autoencoder lab's reading matches its table and its log loss axis reads as numbers in order.
Screenshots and the exported PNGs: test-artifacts/screenshots/story-*.png."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from components.exports import png_metadata
from components.session import encode_variants
from core.preprocess.variant import Resize, Variant, VariantSet
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 300_000


def _download(ui, key: str, name: str) -> bytes:  # noqa: ANN001
    with ui.page.expect_download(timeout=120_000) as info:
        ui.page.locator(f".st-key-{key} button:visible").first.click()
    data = Path(info.value.path()).read_bytes()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(data)
    return data


def _toggle(ui, key: str) -> None:  # noqa: ANN001
    ui.page.locator(f".st-key-{key} label").first.click()
    ui.page.wait_for_timeout(400)
    ui.wait_idle()


def _shot(ui, name: str) -> None:  # noqa: ANN001
    ui.page.mouse.move(1430, 10)  # no hover toolbar over the charts
    ui.page.wait_for_timeout(600)
    ui.screenshot(name)


def test_compare_merges_identical_inputs_and_exports_differences_and_zoom(ui) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    ui.open("sample=zoneplate&preset=resize-libraries&compare_zoom=center", path="compare")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    note = main.locator('[data-testid="stAlert"]').filter(has_text="OpenCV linear (default) = OpenCV area")
    assert note.count() == 1 and "bit-identical inputs on this image" in note.inner_text()
    captions = main.locator('[data-testid="stImageCaption"], [data-testid="caption"]').all_inner_texts()
    assert sum(c.strip() == "OpenCV linear (default) = OpenCV area" for c in captions) == 1, captions
    assert not any(c.strip() == "OpenCV area" for c in captions)
    assert "compare_zoom=center" in ui.page.url
    assert main.get_by_text("Zoom: center, 4×").count() == 1
    _shot(ui, "story-compare-identical-1440x900")
    main.get_by_text("each on its own color scale").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    _shot(ui, "story-compare-differences-1440x900")
    record = png_metadata(_download(ui, "compare_export_png", "story-compare-export"))["record"]
    sections = [p["section"] for p in record["panels"]]
    shown = len(record["variants"]) - 2  # two pairs merged
    assert sections == ["input"] * shown + ["difference"] * (shown - 1) + ["zoom"] * shown
    assert record["settings"]["identical inputs"].count(" = ") == 2
    assert all(p["scale"][1] > 0 for p in record["panels"] if p["section"] == "difference")


def test_activation_maps_over_gray_with_an_opacity_switch(ui) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    variants = [Variant(name="rgb"), Variant(name="turbo", channels="colormap", colormap="turbo"),
                Variant(name="jet", channels="colormap", colormap="jet")]
    query = urllib.parse.urlencode({"sample": "chelsea", **encode_variants(VariantSet.of(variants)),
                                    "compare_cam": "1", "compare_diff": "0"})
    ui.open(query, path="compare")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_text("Activation maps in", exact=False).first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    assert ui.page.locator(".st-key-compare_cam_gray__widget input[type=checkbox]").is_checked()
    assert main.get_by_text("at 55% opacity, over that variant's network input in gray.").count() == 1
    maps = main.locator('[data-testid="stPlotlyChart"]').filter(has_text="goldfish").or_(
        main.locator('[data-testid="stPlotlyChart"]').filter(has_text="IoU")).first
    maps.evaluate("e => e.scrollIntoView({block: 'center'})")
    _shot(ui, "story-compare-maps-gray-1440x900")
    _toggle(ui, "compare_cam_gray__widget")
    assert "compare_cam_gray=0" in ui.page.url
    assert main.get_by_text("at 55% opacity, over that variant's network input.").count() == 1
    maps.evaluate("e => e.scrollIntoView({block: 'center'})")
    _shot(ui, "story-compare-maps-color-1440x900")


def test_audio_png_keeps_axes_and_analysis_rate(ui) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    variants = [Variant(name="gray", channels="replicate", resize=Resize(size=224, fit="stretch")),
                Variant(name="magma", channels="colormap", colormap="magma", resize=Resize(size=224, fit="stretch"))]
    query = urllib.parse.urlencode({"sample": "sound:chirp-up", **encode_variants(VariantSet.of(variants))})
    ui.open(query, path="audio")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    record = png_metadata(_download(ui, "audio_export_png", "story-audio-export"))["record"]
    assert record["settings"]["analysis rate"].endswith("Hz") and record["settings"]["sound"].endswith("Hz")
    for p in record["panels"]:
        assert p["axes"]["x"] == "time (s)" and p["axes"]["y"] == "frequency (Hz)" and p["axes"]["x_ticks"]


def test_lab_reading_matches_its_table_and_the_loss_axis_reads_in_order(ui) -> None:  # noqa: ANN001
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    ui.open()
    ui.go("Autoencoder lab")
    main = ui.page.locator('[data-testid="stMain"]')
    assert main.get_by_text("not denoise").count() == 0
    main.get_by_role("tab", name="Single noisy image").click()
    ui.set_number("Steps per regime", 100)
    main.get_by_role("button", name="Train the regimes").click()
    main.get_by_text("Regimes side by side").wait_for(timeout=WAIT_MS)
    ui.wait_idle(WAIT_MS / 1000)
    ui.assert_no_exception()
    block = main.locator('[data-testid="stMarkdownContainer"]').filter(has_text="Reading it.").first
    reading = block.inner_text()
    assert "the noisy input scores" in reading and "dB" in reading
    main.get_by_text("Regimes side by side").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    _shot(ui, "story-lab-reading-1440x900")
    loss = main.locator('[data-testid="stPlotlyChart"]').filter(has_text="Training loss per step").first
    ticks = [t.strip() for t in loss.locator(".ytick text").all_text_contents() if t.strip()]
    values = [float(t) for t in ticks]
    assert len(values) >= 2 and values == sorted(values) and len(set(values)) == len(values), ticks
    loss.scroll_into_view_if_needed()
    _shot(ui, "story-lab-single-1440x900")
