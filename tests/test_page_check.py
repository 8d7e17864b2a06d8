"""Dataset check page through AppTest: opened from Start, a check on a folder, the report, Open in Compare, and
the check listed on the Runs page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.apptest import ok, open_app, run_job, session


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root holding ``shapes``: class a in PNG, class b in JPEG (a format shortcut)."""
    rng = np.random.default_rng(0)
    for cls, fmt in (("a", "PNG"), ("b", "JPEG")):
        folder = tmp_path / "shapes" / cls
        folder.mkdir(parents=True)
        for i in range(8):
            img = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
            img.save(folder / f"{cls}{i}.{'png' if fmt == 'PNG' else 'jpg'}", format=fmt)
    monkeypatch.setenv("PREPSCOPE_DATA_ROOT", str(tmp_path))
    return tmp_path


def test_start_opens_the_check_and_a_metadata_check_finds_the_shortcut_and_opens_an_item(data_root: Path) -> None:
    at = open_app(None)
    at.button(key="start_check").click().run()
    ok(at)
    assert at.title[0].value == "Dataset check"
    at.text_input(key="check_folder__widget").set_value("shapes").run()
    at.toggle(key="check_meta__widget").set_value(True).run()
    run_job(at, "check_run")
    ok(at)
    report = session(at).check_run.report
    assert report.check_id is not None and report.finding("shortcut") is not None
    summary = at.dataframe[0].value  # the summary table comes first
    assert "shortcut" in list(summary["finding"]) and "upscale" in list(summary["finding"])
    assert session(at).options["check_folder"] == "shapes"  # the choice is a page option (in the link)

    finding = report.findings.index(report.finding("shortcut"))
    item = report.findings[finding].items[3]
    at.selectbox(key="check_pick_shortcut").set_value(3).run()
    at.button(key="check_open_shortcut").click().run()
    ok(at)
    assert at.title[0].value.startswith("Compare")
    s = session(at)
    assert s.source == "upload" and s.upload.name == item["name"]

    at.switch_page("pages/runs.py").run()
    ok(at)
    (checks,) = [d.value for d in at.dataframe if "check" in d.value.columns]
    assert list(checks["check"]) == [f"#{report.check_id}"] and "shortcut" in checks["findings"][0]


def test_an_unusable_folder_is_one_sentence_not_a_traceback(data_root: Path) -> None:
    at = open_app("pages/check.py")
    at.text_input(key="check_folder__widget").set_value("../elsewhere").run()
    ok(at)
    assert any("outside the data root" in e.value for e in at.error)
    run_job(at, "check_run")
    ok(at)
    assert session(at).check_run is None
