"""The walk of issue 18, in the real browser, as one person makes it without thinking: upload A -> upload B ->
upload a broken file -> remove it -> upload A -> Accuracy settings -> Runs -> Accuracy -> three pages -> Back,
asserting the input, the message, the settings and the address at each step, while every request the page makes
is recorded. A second, small test holds the hard assertion that no request leaves 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.test_upload_sequences_browser import (
    QUIET_PAGE,
    broken,
    current_input,
    photo,
    remove,
    sidebar_errors,
    upload,
    uploader_files,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def record_requests(page) -> list[str]:  # noqa: ANN001 - playwright Page
    """Every URL the page requests from now on (documents, scripts, fonts, websockets, …)."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda ws: seen.append(ws.url))
    return seen


def external(urls: list[str]) -> list[str]:
    """The URLs among ``urls`` that leave 127.0.0.1 (data: and blob: URLs stay in the page)."""
    return [u for u in urls if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"]


def _path(ui) -> str:  # noqa: ANN001
    return urlsplit(ui.page.url).path.rstrip("/")


def _accuracy_settings(ui) -> tuple[str, bool]:  # noqa: ANN001
    """(the built-in dataset shown, whether the zeroshot method is checked)."""
    main = ui.page.locator('[data-testid="stMain"]')
    builtin = main.get_by_role("combobox", name="Built-in dataset").input_value()
    return builtin, main.get_by_role("radio", name="zeroshot").is_checked()


def test_the_walk_of_issue_18(ui, tmp_path: Path) -> None:  # noqa: ANN001
    requests = record_requests(ui.page)
    a, b, bad = photo(tmp_path, "a.png", "coffee"), photo(tmp_path, "b.png", "astronaut"), broken(tmp_path, "c.png")
    ui.open(path=QUIET_PAGE)
    start = int(ui.page.evaluate("window.history.length"))

    upload(ui, a)
    assert "upload: a.png" in current_input(ui) and uploader_files(ui) == ["a.png"]
    assert "upload=" in ui.page.url and "sample=" not in ui.page.url

    upload(ui, b)
    assert "upload: b.png" in current_input(ui) and uploader_files(ui) == ["b.png"] and sidebar_errors(ui) == []

    upload(ui, bad)
    errors = sidebar_errors(ui)
    assert len(errors) == 1 and "c.png" in errors[0] and "The input stays upload: b.png" in errors[0], errors
    assert "upload: b.png" in current_input(ui)

    remove(ui)  # the refused file leaves the box; the input was b.png and stays
    assert uploader_files(ui) == [] and sidebar_errors(ui) == []
    assert "upload: b.png" in current_input(ui)

    upload(ui, a)
    assert "upload: a.png" in current_input(ui) and uploader_files(ui) == ["a.png"] and sidebar_errors(ui) == []
    ui.assert_no_exception()

    ui.go("Accuracy")
    assert _path(ui) == "/accuracy"
    ui.select("Built-in dataset", "sounds")
    ui.page.locator('[data-testid="stMain"] [data-testid="stRadio"]').get_by_text("zeroshot", exact=True).click()
    ui.page.wait_for_timeout(400)
    ui.wait_idle()
    builtin, zeroshot = _accuracy_settings(ui)
    assert builtin == "sounds" and zeroshot

    ui.go("Runs")
    assert _path(ui) == "/runs" and "upload: a.png" in current_input(ui)
    ui.go("Accuracy")
    builtin, zeroshot = _accuracy_settings(ui)
    assert builtin == "sounds" and zeroshot, (builtin, zeroshot)  # kept across the visit
    assert "out of date" not in ui.page.locator('[data-testid="stMain"]').inner_text()
    ui.screenshot("walk-accuracy-kept")

    visited = int(ui.page.evaluate("window.history.length"))
    for title, path in (("Autoencoder lab", "/autoencoder_lab"), ("Runs", "/runs"), ("Accuracy", "/accuracy")):
        ui.go(title)
        assert _path(ui) == path
    assert int(ui.page.evaluate("window.history.length")) == visited + 3  # one entry per page visit
    assert visited - start == 3  # Accuracy, Runs, Accuracy: the uploads and settings added no entries

    ui.page.go_back()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    assert _path(ui) == "/runs" and "upload=" in ui.page.url
    assert "upload: a.png" in current_input(ui)
    ui.page.go_back()
    ui.page.wait_for_timeout(500)
    ui.wait_idle()
    assert _path(ui) == "/autoencoder_lab" and "upload: a.png" in current_input(ui)
    ui.assert_no_exception()
    ui.screenshot("walk-after-back")
    assert requests and any("127.0.0.1" in u for u in requests)  # the recorder saw the page's traffic


def test_no_request_leaves_127_0_0_1(ui) -> None:  # noqa: ANN001
    requests = record_requests(ui.page)
    ui.open()
    ui.go("Runs")
    ui.page.wait_for_timeout(1000)
    assert requests
    assert external(requests) == []
