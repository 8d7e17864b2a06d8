"""The browser's history in the real browser (issue 18): one entry per page visit. The address is rewritten in place
while a page runs (its query: sample, variants, model, the page's switches); only a page change adds an entry, so
Back goes back one page. Before the fix three page visits added 16 entries (one per query-parameter write)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _history_length(ui) -> int:  # noqa: ANN001
    return int(ui.page.evaluate("window.history.length"))


def _title(ui) -> str:  # noqa: ANN001
    return ui.page.locator('[data-testid="stMain"] h1').first.inner_text().strip()


def test_one_history_entry_per_page_visit_and_back_goes_back_one_page(ui) -> None:  # noqa: ANN001
    ui.open(path="runs")
    start = _history_length(ui)
    for title in ("Autoencoder lab", "Accuracy", "Runs"):
        ui.go(title)
        ui.assert_no_exception()
    assert _history_length(ui) == start + 3
    assert "/runs?" in ui.page.url and "sample=chelsea" in ui.page.url

    ui.page.go_back()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    assert _title(ui) == "Accuracy" and "/accuracy?" in ui.page.url
    assert "sample=chelsea" in ui.page.url and "model=" in ui.page.url  # the state is in the address again
    ui.page.go_back()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    assert _title(ui) == "Autoencoder lab" and "/autoencoder_lab?" in ui.page.url
    assert _history_length(ui) == start + 3  # Back moves within the history, it adds nothing
    ui.assert_no_exception()


def test_changing_a_switch_rewrites_the_address_without_a_history_entry(ui) -> None:  # noqa: ANN001
    ui.open(path="runs")
    start = _history_length(ui)
    sample = ui.page.locator(".st-key-sb_sample")
    sample.get_by_role("combobox").click()
    ui.page.get_by_role("option").filter(has_text="coffee").first.click()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    assert "sample=coffee" in ui.page.url
    assert _history_length(ui) == start


@pytest.mark.parametrize("path", ["autoencoder_lab", "check", "runs"])
def test_a_page_opened_from_a_link_leaves_few_history_entries(new_ui, path: str) -> None:  # noqa: ANN001
    """A fresh tab rewrites its address before the history guard is installed: each write was an entry, and a page
    with many switches (the lab: 12, the check: 7) left 8-13 of them, so Back stayed on the page. The switches are
    now written once, after the page has run."""
    ui = new_ui()
    ui.open(path=path)
    ui.page.wait_for_timeout(1000)
    ui.wait_idle()
    ui.assert_no_exception()
    # the load and at most a few writes of the whole address (3-4 here; how many come before the guard depends
    # on the machine's load), never one per switch
    assert _history_length(ui) <= 5
