"""Dataset check in headless Chromium: opened from Start's card, a check on an uploaded zip (one class PNG, the
other JPEG, a truncated file, a duplicate), the report, and a flagged item opened in Compare.
Screenshots (1440x900): test-artifacts/screenshots/check-report.png, check-finding.png, check-compare.png,
check-runs.png."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import UI, running_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 300_000


def _zip(path: Path) -> Path:
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for cls, fmt in (("ants", "PNG"), ("bees", "JPEG")):
            for i in range(8):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, format=fmt)
                zf.writestr(f"set/{cls}/{cls}{i}.{'png' if fmt == 'PNG' else 'jpg'}", buf.getvalue())
                if i == 0:
                    zf.writestr(f"set/{cls}/{cls}{i}-copy.{'png' if fmt == 'PNG' else 'jpg'}", buf.getvalue())
        zf.writestr("set/bees/broken.jpg", buf.getvalue()[:300])
    return path



@pytest.fixture
def ui(browser, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """This test's own server and home: the check it records is the database's first, and no work left by an
    earlier test (a stopped sweep) shares its process."""
    with running_server(tmp_path_factory.mktemp("check-home"), "streamlit-check-server.log") as url:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            yield UI(context.new_page(), url)
        finally:
            context.close()


def test_check_an_uploaded_zip_and_open_a_flagged_item_in_compare(ui, tmp_path: Path) -> None:  # noqa: ANN001
    ui.open()
    main = ui.page.locator('[data-testid="stMain"]')
    main.get_by_role("button", name="Open Dataset check").click()
    ui.page.wait_for_timeout(300)
    ui.wait_idle()
    assert main.get_by_role("heading", name="Dataset check").count() == 1
    main.get_by_text("Upload a zip", exact=True).click()
    ui.wait_idle()
    main.locator('input[type="file"]').set_input_files(str(_zip(tmp_path / "set.zip")))
    ui.page.wait_for_timeout(1000)
    ui.wait_idle()
    main.get_by_role("button", name="Run check").click()
    ui.page.wait_for_timeout(500)
    main.get_by_text("Download JSON").first.wait_for(timeout=WAIT_MS)
    ui.wait_idle()
    ui.assert_no_exception()
    for kind in ("shortcut", "unreadable", "duplicate", "upscale"):
        assert main.get_by_text(f"{kind} · ").count() >= 1, kind  # an expander per finding
    assert main.get_by_text("broken.jpg").count() >= 1
    ui.page.set_viewport_size({"width": 1440, "height": 900})
    main.get_by_role("heading", name="Check #").first.scroll_into_view_if_needed()
    ui.page.wait_for_timeout(800)
    ui.screenshot("check-report")
    # a reload keeps the report (this browser started the check on this server); what follows uses the kept one
    ui.page.reload()
    ui.wait_idle()
    main.get_by_text("Download JSON").first.wait_for(timeout=WAIT_MS)
    for kind in ("shortcut", "unreadable", "duplicate", "upscale"):
        assert main.get_by_text(f"{kind} · ").count() >= 1, kind
    ui.assert_no_exception()
    main.get_by_role("button", name="Open in Compare").first.scroll_into_view_if_needed()
    ui.page.wait_for_timeout(800)
    ui.screenshot("check-finding")

    main.get_by_role("button", name="Open in Compare").first.click()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    ui.assert_no_exception()
    ui.page.wait_for_timeout(800)
    ui.screenshot("check-compare")
    assert "/compare" in ui.page.url
    # the shortcut (every ant a PNG) is the first finding; its first item, in dataset order, is now the input
    assert main.get_by_text("upload: ants0-copy.png").count() >= 1

    ui.go("Runs")  # the check is listed beside the sweeps, and opens with the same report
    ui.assert_no_exception()
    assert main.get_by_role("heading", name="Dataset checks").count() == 1
    ui.select("Open check", " · set · ")  # this check (newest first); its id depends on what ran before it
    ui.assert_no_exception()
    assert main.get_by_text("shortcut · ").count() >= 1
    main.get_by_role("heading", name="Dataset checks").scroll_into_view_if_needed()
    ui.page.wait_for_timeout(800)
    ui.screenshot("check-runs")
