"""Links in the real browser: a shared link opened as a fresh server's very first request shows the whole app;
hostile variant names from a link stay plain text in every view."""

from __future__ import annotations

import pytest

from components.session import encode_variants
from core.preprocess.variant import Resize, Variant
from tests.browser.conftest import UI

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOSTILE = "**b** [x](http://e.com) $x^2$ :red[red] :material/home: <b>h</b> www.e.com"


def test_a_link_as_the_first_request_of_a_fresh_server_gets_the_full_app(browser, fresh_server: str) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        ui = UI(context.new_page(), fresh_server)
        ui.open("sample=coffee&preset=channels", path="compare")  # nothing has been served before this request
        ui.assert_no_exception()
        sidebar = ui.page.locator('[data-testid="stSidebar"]')
        assert ui.nav_titles()[:2] == ["Start", "Compare"] and "Accuracy" in ui.nav_titles()
        assert ui.page.locator(".st-key-sb_model").count() == 1  # model choice
        assert sidebar.get_by_text("upload an image or a sound").count() == 1  # upload
        assert ui.page.locator(".st-key-ve_names").count() == 1  # the variant set, and its editor behind "Edit"
        assert sidebar.locator("summary").filter(has_text="Edit variants").count() == 1
        assert sidebar.get_by_text("Current input: sample: coffee").count() == 1
        main = ui.page.locator('[data-testid="stMain"]')
        assert main.locator("h1").first.inner_text().strip() == "Compare"
        main.get_by_text("Reference top-1:").first.wait_for(timeout=240_000)
        assert "sample=coffee" in ui.page.url and "preset=channels" in ui.page.url
        ui.screenshot("first-request-compare")
    finally:
        context.close()


def _visible_text(locator) -> str:  # noqa: ANN001
    return locator.inner_text().replace("\u200b", "")


def test_hostile_variant_names_from_a_link_stay_plain_text(ui) -> None:  # noqa: ANN001
    variants = [Variant(name="ref", resize=Resize(size=64)), Variant(name=HOSTILE, resize=Resize(size=64))]
    query = "&".join(f"{k}={v}" for k, v in encode_variants(variants).items())
    ui.open(f"sample=coffee&{query}", path="compare")
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_text("Reference top-1:").first.wait_for(timeout=240_000)
    ui.wait_idle()
    ui.assert_no_exception()
    app = ui.page.locator('[data-testid="stApp"]')
    assert app.locator('a[href*="e.com"]').count() == 0  # no link formed anywhere
    assert app.locator(".katex").count() == 0  # no formula
    assert app.locator('[data-testid="stMarkdownColoredText"], span[class*="colored"]').count() == 0
    assert HOSTILE in _visible_text(main)  # the name, literally, in the captions
    assert HOSTILE in _visible_text(ui.page.locator(".st-key-ve_names"))
    chart_text = _visible_text(main.locator('[data-testid="stPlotlyChart"]').last)
    assert "<b>h</b>" in chart_text  # the heatmap's row label, not bold markup
    ui.screenshot("hostile-names")
