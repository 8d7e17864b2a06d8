"""The Accuracy page through Streamlit's AppTest: a tiny built-in sweep runs and shows its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.preprocess.variant import Resize, Variant
from tests.apptest import open_app

TINY = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
        Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]


def _app():
    return open_app("pages/accuracy.py", TINY)


def test_page_renders_controls_and_the_seeded_variants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    at = _app()
    assert not at.exception
    assert [r.key for r in at.radio] == ["acc_source", "acc_method"]
    assert "Variants: gray, viridis" in " ".join(t.value for t in at.text)
    assert at.session_state["acc_method"] == "probe"
    assert "acc_result" not in at.session_state


@pytest.mark.slow
def test_tiny_builtin_sweep_shows_table_chart_and_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    at = _app()
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(8)
    at.button(key="acc_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    frame = at.dataframe[0].value
    assert list(frame["variant"]) == ["gray", "viridis"]
    assert frame["n_test"].tolist() == [16, 16]  # 80 items, 20% held out, stratified
    assert frame["accuracy"].between(0, 1).all()
    result = at.session_state["acc_result"]
    assert result.variants[0].mcnemar_p is None and result.variants[1].mcnemar_p is not None
    assert "digits" in " ".join(c.value for c in at.caption)
    # results survive a rerun that does not click Run again
    at.run()
    assert not at.exception
    assert list(at.dataframe[0].value["variant"]) == ["gray", "viridis"]
    # the features were cached on disk under the configured folder
    assert list((tmp_path / "cache").glob("*.pooled.npy"))
    payload = json.loads(result_json(result))
    assert payload["variants"][0]["name"] == "gray"


def result_json(result) -> str:
    return json.dumps(result.to_dict())
