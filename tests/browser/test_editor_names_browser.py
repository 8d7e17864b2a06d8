"""Variant names in the real browser's editor (issue 18): a name that spells out a setting follows it."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_name_follows_its_colormap_in_the_editor(ui) -> None:  # noqa: ANN001
    """Issue 18: after changing gray→viridis's colormap to magma it was still labelled "gray→viridis"."""
    ui.open(path="runs")
    sidebar = ui.page.locator('[data-testid="stSidebar"]')
    sidebar.locator("summary").filter(has_text="Edit variants").click()
    sidebar.get_by_role("combobox", name="Edit variant").click()
    ui.page.get_by_role("option").filter(has_text="gray→viridis").first.click()
    ui.page.wait_for_timeout(400)
    ui.wait_idle()
    colormap = sidebar.get_by_role("combobox", name="colormap", exact=True)
    assert colormap.input_value() == "viridis"
    colormap.scroll_into_view_if_needed()
    colormap.click()
    colormap.fill("magma")  # the list holds every matplotlib colormap: type to find it
    ui.page.get_by_role("option", name="magma", exact=True).click()
    ui.page.wait_for_timeout(400)
    ui.wait_idle()
    ui.assert_no_exception()
    names = ui.page.locator(".st-key-ve_names").inner_text()
    assert "gray→magma" in names and "gray→viridis" not in names, names
    assert sidebar.get_by_role("combobox", name="Edit variant").input_value().endswith("gray→magma")
    assert "preset=" not in ui.page.url and "v=" in ui.page.url  # the edited set travels in the link
    ui.page.locator(".st-key-ve_names").scroll_into_view_if_needed()
    ui.screenshot("editor-name-follows-colormap")
