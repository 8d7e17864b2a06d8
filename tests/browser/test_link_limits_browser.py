"""Links past what a tab can take, in the real browser (issue 18): 800 unknown parameters used to freeze the tab
(one history entry and one address rewrite per key), 2,000 were dropped by Streamlit with no word. Now the address
is rewritten once and one short message says how many were dropped; every name is in an expander under it."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _link_warnings(ui) -> list[str]:  # noqa: ANN001
    alerts = ui.page.locator('[data-testid="stMain"] [data-testid="stAlertContentWarning"]')
    return [t.replace("\u200b", "") for t in alerts.all_inner_texts() if "link" in t]


@pytest.mark.parametrize("n", [800, 2000])
def test_a_link_with_thousands_of_unknown_parameters_opens_and_names_them(ui, n: int) -> None:  # noqa: ANN001
    junk = "&".join(f"junk{i}={i}" for i in range(n))
    t0 = time.monotonic()
    ui.open(f"sample=coffee&{junk}", path="runs")
    ui.page.get_by_text("junk0").first.wait_for(timeout=60_000)
    ui.wait_idle()
    seconds = time.monotonic() - t0
    ui.assert_no_exception()
    notes = _link_warnings(ui)
    assert len(notes) == 1, notes
    assert "'junk0'" in notes[0] and f"{n:,} parameters" in notes[0] and len(notes[0]) < 1000  # short, says how many
    expander = ui.page.locator('[data-testid="stMain"] [data-testid="stExpander"]').filter(has_text="could not use")
    expander.locator("summary").click()
    full = expander.inner_text()
    assert f"'junk{n - 1}'" in full and f"'junk{n // 2}'" in full  # every name, in the expander
    assert "junk" not in ui.page.url and "sample=coffee" in ui.page.url  # the keys prepscope uses are kept
    assert "Current input: sample: coffee" in ui.page.locator('[data-testid="stSidebar"]').inner_text()
    assert int(ui.page.evaluate("window.history.length")) <= 4  # not one entry per key
    assert seconds < 60, seconds
    ui.screenshot(f"link-{n}-unknown-parameters")
