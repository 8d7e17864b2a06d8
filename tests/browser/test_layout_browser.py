"""A dashboard you can present: at 1440x900, Compare with four variants shows every input and its predictions
without scrolling, and the sidebar is a summary (the variant editor opens on demand)."""

from __future__ import annotations

import pytest

from components.session import encode_variants
from core.preprocess.presets import get_preset

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_compare_with_four_variants_fits_a_laptop_screen(browser, app_server: str) -> None:  # noqa: ANN001
    from tests.browser.conftest import UI

    four = list(get_preset("interpolation"))[:4]
    query = "&".join(f"{k}={v}" for k, v in encode_variants(four).items())
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        ui = UI(context.new_page(), app_server)
        ui.open(f"sample=brick&{query}", path="compare")
        main = ui.page.locator('[data-testid="stMain"]')
        main.get_by_text("Reference top-1:").first.wait_for(timeout=240_000)
        ui.wait_idle()
        ui.page.reload()  # as presented: results cached, nothing computing
        ui.wait_idle()
        main.get_by_text("Reference top-1:").first.wait_for(timeout=60_000)
        ui.assert_no_exception()
        # each variant's caption under its input: agreement, then its top-5 lines
        predictions = main.locator('[data-testid="stCaptionContainer"]').filter(has_text="5. ")
        boxes = [predictions.nth(i).bounding_box() for i in range(predictions.count())]
        boxes = [b for b in boxes if b is not None]
        assert len(boxes) >= 4  # the top-5 lines of all four variants
        assert max(b["y"] + b["height"] for b in boxes) <= 900, boxes
        images = main.locator('[data-testid="stImage"]')
        assert images.count() >= 4 and all(images.nth(i).bounding_box()["y"] < 900 for i in range(4))
        sidebar_height = ui.page.evaluate(
            "() => document.querySelector('[data-testid=\"stSidebarContent\"]').scrollHeight")
        assert sidebar_height < 1800, sidebar_height  # the editor is collapsed to the summary
        assert ui.page.locator('[data-testid="stSidebar"] summary').filter(has_text="Edit variants").count() == 1
        ui.screenshot("compare-four-variants-1440x900")
    finally:
        context.close()
