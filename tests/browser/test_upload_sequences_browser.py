"""Upload sequences as people make them without thinking, in the real browser (issue 18): a second upload
replaces the first (a good photo, a broken file, the same photo again), removing a file with its × and
uploading again, and reloading the tab. The input is whatever was chosen last; a refused upload keeps the
previous input and says why. Before the fix a second upload sent the input back to the bundled sample and
emptied the uploader, with no message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: A page that computes nothing, so each step costs one cheap rerun.
QUIET_PAGE = "runs"


def photo(tmp_path: Path, name: str, sample: str = "coffee") -> Path:
    """A scikit-image sample photo saved as PNG under ``name`` (self-contained: no shared data needed)."""
    from PIL import Image
    from skimage import data

    path = tmp_path / name
    buf = io.BytesIO()
    Image.fromarray(getattr(data, sample)()).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def broken(tmp_path: Path, name: str = "broken.png") -> Path:
    """A file that claims to be a PNG and is text."""
    path = tmp_path / name
    path.write_bytes(b"this is not an image at all\n" * 20)
    return path


def _uploader(ui):  # noqa: ANN001, ANN202 - playwright Locator
    return ui.page.locator('[data-testid="stSidebar"] [data-testid="stFileUploader"]').filter(
        has_text="upload an image or a sound")


def upload(ui, path: Path) -> None:  # noqa: ANN001
    """Give ``path`` to the sidebar's uploader (as choosing it in the file dialog does) and wait for the rerun."""
    _uploader(ui).locator('input[type="file"]').set_input_files(str(path))
    ui.page.wait_for_timeout(600)
    ui.wait_idle()


def remove(ui) -> None:  # noqa: ANN001
    """Remove the uploader's file with its × and wait for the rerun."""
    _uploader(ui).locator('[data-testid="stFileChipDeleteBtn"] button').first.click()
    ui.page.wait_for_timeout(600)
    ui.wait_idle()


def uploader_files(ui) -> list[str]:  # noqa: ANN001
    """The file names the sidebar's uploader shows."""
    return [t.strip() for t in _uploader(ui).locator('[data-testid="stFileChipName"]').all_inner_texts()]


def current_input(ui) -> str:  # noqa: ANN001
    """The sidebar's "Current input: …" line."""
    return ui.page.locator('[data-testid="stSidebar"]').get_by_text("Current input:").first.inner_text()


def sidebar_errors(ui) -> list[str]:  # noqa: ANN001
    return ui.page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]').all_inner_texts()


def test_a_second_good_upload_replaces_the_first(ui, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = photo(tmp_path, "first.png", "coffee"), photo(tmp_path, "second.png", "astronaut")
    ui.open(path=QUIET_PAGE)
    upload(ui, a)
    assert "upload: first.png" in current_input(ui)
    upload(ui, b)
    ui.assert_no_exception()
    assert "upload: second.png" in current_input(ui), current_input(ui)
    assert uploader_files(ui) == ["second.png"]
    assert sidebar_errors(ui) == []
    ui.screenshot("upload-second-replaces-first")


def test_a_broken_second_upload_is_refused_and_keeps_the_first(ui, tmp_path: Path) -> None:  # noqa: ANN001
    a, bad = photo(tmp_path, "good.png"), broken(tmp_path)
    ui.open(path=QUIET_PAGE)
    upload(ui, a)
    upload(ui, bad)
    ui.assert_no_exception()
    assert "upload: good.png" in current_input(ui), current_input(ui)
    errors = sidebar_errors(ui)
    assert len(errors) == 1 and "broken.png" in errors[0], errors
    assert "The input stays upload: good.png" in errors[0], errors  # says what stays the input
    ui.screenshot("upload-broken-keeps-previous")


def test_the_same_photo_again_stays_the_input(ui, tmp_path: Path) -> None:  # noqa: ANN001
    a = photo(tmp_path, "same.png")
    ui.open(path=QUIET_PAGE)
    upload(ui, a)
    upload(ui, a)
    ui.assert_no_exception()
    assert "upload: same.png" in current_input(ui), current_input(ui)
    assert uploader_files(ui) == ["same.png"]


def test_remove_then_upload_takes_the_new_file(ui, tmp_path: Path) -> None:  # noqa: ANN001
    a, b = photo(tmp_path, "one.png"), photo(tmp_path, "two.png", "astronaut")
    ui.open(path=QUIET_PAGE)
    upload(ui, a)
    remove(ui)
    assert "sample: chelsea" in current_input(ui), current_input(ui)  # the removed file was the input
    assert uploader_files(ui) == []
    upload(ui, b)
    ui.assert_no_exception()
    assert "upload: two.png" in current_input(ui), current_input(ui)
    assert uploader_files(ui) == ["two.png"]


def test_a_reload_keeps_the_upload_and_another_browser_gets_a_plain_message(ui, new_ui, tmp_path: Path) -> None:  # noqa: ANN001
    a = photo(tmp_path, "kept.png")
    ui.open(path=QUIET_PAGE)
    upload(ui, a)
    assert "upload: kept.png" in current_input(ui)
    assert "upload=" in ui.page.url and "sample=" not in ui.page.url
    ui.page.reload()
    ui.wait_idle()
    ui.assert_no_exception()
    assert "upload: kept.png" in current_input(ui), current_input(ui)  # the same tab after a reload
    assert "upload=" in ui.page.url
    ui.screenshot("upload-after-reload")

    other = new_ui()  # another browser (its own cookies) opening the copied link
    other.page.goto(ui.page.url)
    other.wait_idle()
    other.assert_no_exception()
    assert "sample: chelsea" in current_input(other), current_input(other)
    notes = other.page.locator('[data-testid="stMain"] [data-testid="stAlertContentWarning"]').all_inner_texts()
    assert any("uploaded file" in n and "cannot travel" in n for n in notes), notes
    assert "upload=" not in other.page.url
