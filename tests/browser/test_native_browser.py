"""``"channels": "native"`` in the real browser: on a three-channel model the Compare page says, in one sentence
and without a traceback, what to use instead."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from components.session import encode_variants
from core.preprocess.variant import Variant
from tests.browser.conftest import UI

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_native_on_lite0_is_refused_on_the_compare_page_with_what_to_use(ui: UI) -> None:
    variants = [Variant(name="rgb"), Variant(name="native", channels="native")]
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    ui.open(urlencode({"sample": "chelsea", **encode_variants(variants)}), path="compare")
    ui.assert_no_exception()
    main = ui.page.locator('[data-testid="stMain"]')
    alert = main.locator('[data-testid="stAlert"]').filter(has_text="takes 3 channels")
    alert.first.wait_for(timeout=120_000)
    text = alert.first.inner_text()
    assert "use replicate" in text and "conv-sum" in text and "in_chans 1" in text
    ui.screenshot("native-on-lite0-compare")
