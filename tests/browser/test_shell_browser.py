"""The dashboard in headless Chromium: a real upload reaches Compare, every page renders without an
exception, and a copied link reproduces the variant set."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "hymenoptera" / "train" / "ants"
#: Navigation order required by the issue, with each page's file under pages/.
NAV = [
    ("Start", "start"),
    ("Compare", "compare"),
    ("Feature maps", "feature_maps"),
    ("Activation statistics", "activations"),
    ("Audio", "audio"),
    ("Accuracy", "accuracy"),
    ("Dataset check", "check"),
    ("Runs", "runs"),
    ("Autoencoder lab", "autoencoder_lab"),
    ("Networks", "networks"),
]
ROOT = Path(__file__).resolve().parents[2]


def _upload_in_sidebar(ui, path: Path) -> None:  # noqa: ANN001
    """Give ``path`` to the sidebar's shared uploader and wait until the app has rerun."""
    uploader = ui.page.locator('[data-testid="stFileUploader"]').filter(has_text="upload an image or a sound")
    uploader.locator('input[type="file"]').set_input_files(str(path))
    ui.page.wait_for_timeout(500)
    ui.wait_idle()


def _photo(tmp_path: Path) -> Path:
    """The first ant photo of the shared data set, or scikit-image's chelsea saved as PNG when it is absent."""
    if ANTS.is_dir():
        jpgs = sorted(ANTS.glob("*.jpg"))
        if jpgs:
            return jpgs[0]
    from PIL import Image
    from skimage import data

    path = tmp_path / "chelsea.png"
    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def _variant_names(ui) -> str:  # noqa: ANN001
    return ui.page.locator(".st-key-ve_names").inner_text().strip()


def test_upload_reaches_compare_and_every_page_renders(ui, tmp_path: Path) -> None:  # noqa: ANN001
    photo = _photo(tmp_path)
    ui.open()
    ui.assert_no_exception()
    expected = [t for t, f in NAV if (ROOT / "pages" / f"{f}.py").is_file()]
    assert ui.nav_titles() == expected
    ui.screenshot("00-start")

    _upload_in_sidebar(ui, photo)
    sidebar = ui.page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text(f"Current input: upload: {photo.name}").wait_for(timeout=30_000)
    ui.assert_no_exception()
    assert "sample=" not in ui.page.url  # an upload cannot travel in a link

    if "Compare" in expected:
        ui.go("Compare")
        main = ui.page.locator('[data-testid="stMain"]')
        main.get_by_text(re.compile(r"top-1")).first.wait_for(timeout=240_000)
        ui.wait_idle()
        ui.assert_no_exception()
        sidebar.get_by_text(f"Current input: upload: {photo.name}").wait_for(timeout=10_000)
        ui.screenshot("01-compare-upload")

    for i, title in enumerate(expected, start=1):
        ui.go(title)
        ui.assert_no_exception()
        # Still the uploaded photo on every page: the input lives in the session, not in the page.
        assert sidebar.get_by_text(f"Current input: upload: {photo.name}").count() == 1
        ui.screenshot(f"{i:02d}-{title.lower().replace(' ', '-')}")


def test_refused_upload_shows_error_and_keeps_input(ui, tmp_path: Path) -> None:  # noqa: ANN001
    svg = tmp_path / "drawing.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect/></svg>')
    ui.open("sample=coffee")
    _upload_in_sidebar(ui, svg)
    error = ui.page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    error.first.wait_for(timeout=30_000)
    assert "drawing.svg" in error.first.inner_text() and "SVG" in error.first.inner_text()
    assert ui.page.get_by_text("Current input: sample: coffee").count() == 1
    ui.assert_no_exception()
    ui.screenshot("refused-upload")


def test_copied_link_reproduces_variant_set(ui, new_ui) -> None:  # noqa: ANN001
    ui.open("preset=interpolation&sample=brick")
    assert _variant_names(ui).startswith("1. bicubic aa (torch)")
    # Edit the set (the editor is collapsed to the summary): add a default variant, then duplicate it (both go to
    # the link as v=...).
    ui.page.locator('[data-testid="stSidebar"] summary').filter(has_text="Edit variants").click()
    ui.page.locator(".st-key-ve_add button").first.click()
    ui.page.wait_for_timeout(300)
    ui.wait_idle()
    ui.page.locator(".st-key-ve_dup button").first.click()
    ui.page.wait_for_timeout(300)
    ui.wait_idle()
    names = _variant_names(ui)
    assert names.endswith("9. variant · 10. variant copy"), names
    ui.page.wait_for_function("() => window.location.search.includes('v=')", timeout=10_000)
    link = ui.page.url
    assert "sample=brick" in link and "preset=" not in link

    fresh = new_ui()  # another browser, as if the link had been pasted by someone else
    fresh.page.goto(link)
    fresh.wait_idle()
    assert _variant_names(fresh) == names
    assert fresh.page.get_by_text("Current input: sample: brick").count() == 1
    fresh.assert_no_exception()
    fresh.page.set_viewport_size({"width": 1440, "height": 3400})  # tall enough to show the whole sidebar
    fresh.page.wait_for_timeout(500)
    fresh.screenshot("copied-link")
