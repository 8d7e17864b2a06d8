"""The dashboard works offline: no page makes a request to any host but the server's own address (the tab
icon used to be fetched from a third-party font host on every page)."""

from __future__ import annotations

import pytest

from components.shell import PAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_every_page_requests_only_the_server(ui, request_log) -> None:  # noqa: ANN001
    ui.open()
    for _, title, _ in PAGES[1:]:
        ui.go(title)
        ui.assert_no_exception()
    ui.go(PAGES[0][1])
    assert len(request_log.urls) > 20  # the recorder saw the page's own traffic
    request_log.assert_all_local()
    icon = ui.page.locator("link[rel='shortcut icon']").get_attribute("href") or ""
    assert icon.startswith(("data:", "/", ui.base_url)), icon
