"""The input is whatever the user chose last, in the real browser: an upload, then a Start question (which sets a
sample), then a toggle on Compare and a page switch must all keep the question's sample — in the page, the
sidebar and the address bar. Before issue 13 the first click after the question silently switched back to the
upload (the sidebar uploader still held the file and re-claimed the input)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.test_shell_browser import _photo, _upload_in_sidebar

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _current_input(ui) -> str:  # noqa: ANN001
    caption = ui.page.locator('[data-testid="stSidebar"]').get_by_text("Current input:").first
    return caption.inner_text()


def test_question_after_upload_keeps_its_sample_through_toggles_and_page_switches(ui, tmp_path: Path) -> None:  # noqa: ANN001
    photo = _photo(tmp_path)
    ui.open()
    _upload_in_sidebar(ui, photo)
    assert f"upload: {photo.name}" in _current_input(ui)

    ui.page.locator(".st-key-start_interpolation button").click()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    assert "sample: brick" in _current_input(ui)
    assert "sample=brick" in ui.page.url

    # the first click on anything afterwards: a toggle on Compare
    ui.page.locator(".st-key-compare_diff__widget label").first.click()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    ui.assert_no_exception()
    assert "sample: brick" in _current_input(ui), _current_input(ui)
    assert "sample=brick" in ui.page.url

    ui.go("Feature maps")
    ui.assert_no_exception()
    assert "sample: brick" in _current_input(ui), _current_input(ui)
    assert "sample=brick" in ui.page.url
