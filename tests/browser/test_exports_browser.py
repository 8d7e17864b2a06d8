"""Exports and links in the real browser: each page's "Figure (PNG)" is that page's figure with the provenance in
its PNG text chunks, and "Copy link" gives a link that reproduces the page's own switches (and no other page's) in
a fresh browser context."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.exports import png_metadata

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WAIT_MS = 240_000


def _download(ui, key: str) -> bytes:  # noqa: ANN001
    with ui.page.expect_download(timeout=120_000) as info:
        ui.page.locator(f".st-key-{key} button:visible").first.click()
    return Path(info.value.path()).read_bytes()


def _checked(ui, key: str) -> bool:  # noqa: ANN001
    return ui.page.locator(f".st-key-{key} input[type=checkbox]").is_checked()


def _toggle(ui, key: str) -> None:  # noqa: ANN001
    ui.page.locator(f".st-key-{key} label").first.click()
    ui.page.wait_for_timeout(400)
    ui.wait_idle()


def _select(ui, key: str, option: str) -> None:  # noqa: ANN001
    ui.page.locator(f".st-key-{key} [role='combobox']").first.click()
    ui.page.get_by_role("option", name=option, exact=True).first.click()
    ui.page.wait_for_timeout(400)
    ui.wait_idle()


def _copied_link(ui, key: str) -> str:  # noqa: ANN001
    ui.page.locator(f"#ps-{key}").click()
    ui.page.get_by_text("Copied").first.wait_for(timeout=10_000)
    return ui.page.evaluate("navigator.clipboard.readText()")


def test_each_page_exports_its_own_figure_and_its_link_reproduces_its_switches(browser, app_server) -> None:  # noqa: ANN001
    from tests.browser.conftest import UI

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server)
    try:
        ui = UI(context.new_page(), app_server)
        ui.open("sample=camera&preset=channels", path="compare")
        main = ui.page.locator('[data-testid="stMain"]')
        main.get_by_text("Reference top-1:").first.wait_for(timeout=WAIT_MS)
        _toggle(ui, "compare_diff__widget")  # off
        assert "compare_diff=0" in ui.page.url
        compare = png_metadata(_download(ui, "compare_export_png"))
        assert compare["record"]["figure"].startswith("Compare")
        assert "/compare?" in compare["Source"] and "compare_diff=0" in compare["Source"]
        assert [v["name"] for v in compare["record"]["variants"]][0] == "rgb"
        assert compare["record"]["input"] == "sample: camera" and compare["record"]["input_digest"]

        ui.go("Feature maps")
        main.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=WAIT_MS)
        _select(ui, "fm_layer_widget", "stem")
        _toggle(ui, "fm_diff_widget")  # on
        assert "fm_layer=stem" in ui.page.url and "fm_diff=1" in ui.page.url
        assert "compare_diff" not in ui.page.url  # another page's switch is not in this page's link
        maps = png_metadata(_download(ui, "fm_export_png"))
        assert maps["record"]["figure"] == "Feature maps of layer stem (variant − reference)"
        assert maps["record"]["settings"]["layer"] == "stem" and maps["record"]["settings"]["difference"] is True
        link = _copied_link(ui, "fm_export_link")
        assert "/feature_maps?" in link and "fm_layer=stem" in link and "compare_" not in link

        ui.go("Activation statistics")
        main.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=WAIT_MS)
        _toggle(ui, "stats_log__widget")  # linear
        stats = png_metadata(_download(ui, "stats_export_png"))
        assert stats["record"]["figure"] == "Activation statistics per layer"
        assert stats["record"]["settings"] == {"bn_shift": "linear"} and "stats_log=0" in stats["Source"]
        ui.screenshot("exports-statistics")
    finally:
        context.close()

    fresh = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        other = UI(fresh.new_page(), app_server)
        other.page.goto(link)
        other.wait_idle()
        other.page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=WAIT_MS)
        other.assert_no_exception()
        combo = other.page.locator(".st-key-fm_layer_widget [role='combobox']").first
        assert combo.evaluate("e => (e.value || e.textContent).trim()") == "stem"
        assert _checked(other, "fm_diff_widget")
        assert other.page.get_by_text("Current input: sample: camera").count() == 1
        assert "fm_layer=stem" in other.page.url and "fm_diff=1" in other.page.url
    finally:
        fresh.close()
