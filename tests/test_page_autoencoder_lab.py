"""The Autoencoder lab page through Streamlit's AppTest: both experiments train (tiny settings) to results,
and the "use this gray / denoiser" buttons add variants that the sidebar editor then offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.preprocess.variant import Resize, Variant
from tests.apptest import ok, open_app, run_job, session

START = [Variant(name="rgb", resize=Resize(size=32))]


@pytest.fixture(autouse=True)
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PREPSCOPE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "models"


def test_page_renders_both_experiments_and_an_empty_models_folder() -> None:
    at = open_app("pages/autoencoder_lab.py", START)
    ok(at)
    assert [t.label for t in at.tabs] == ["Learned grayscale", "Single noisy image", "Saved models"]
    assert at.button(key="ael_g_train") and at.button(key="ael_s_train")
    assert any("No saved models yet" in i.value for i in at.info)


@pytest.mark.slow
def test_single_image_regimes_train_and_a_denoiser_joins_the_variants(folders: Path) -> None:
    at = open_app("pages/autoencoder_lab.py", START)
    at.number_input(key="ael_s_steps__widget").set_value(3)
    run_job(at, "ael_s_train")
    ok(at)
    assert not at.error, [e.value for e in at.error]
    result = session(at).lab.single_result
    assert [r.name for r in result.regimes] == ["plain", "augmented", "prefiltered", "blindspot"]
    frame = at.dataframe[0].value
    assert list(frame["regime"]) == ["plain", "augmented", "prefiltered", "blindspot"]
    assert frame["PSNR vs clean"].notna().all()
    at.selectbox(key="ael_s_keep_regime").set_value("blindspot")
    at.text_input(key="ael_s_keep_name").set_value("bs1")
    at.button(key="ael_s_use").click().run()
    ok(at)
    assert (folders / "bs1.pt").is_file() and (folders / "bs1.json").is_file()
    last = session(at).variants[-1]
    assert last.denoise[0].kind == "learned" and last.denoise[0].model == "bs1"
    # results survive a rerun
    at.run()
    assert list(at.dataframe[0].value["regime"])[-1] == "blindspot"


@pytest.mark.slow
def test_learned_gray_trains_and_its_rule_joins_the_variants_and_the_editor(folders: Path) -> None:
    at = open_app("pages/autoencoder_lab.py", START)
    at.number_input(key="ael_g_epochs__widget").set_value(1)
    at.text_input(key="ael_g_name__widget").set_value("g-test")
    run_job(at, "ael_g_train")
    ok(at)
    assert not at.error, [e.value for e in at.error]
    result = session(at).lab.gray_result
    assert [s.rule for s in result.rules] == ["601", "709", "mean", "learned:g-test"]
    assert (folders / "g-test.pt").is_file()
    at.button(key="ael_g_use").click().run()
    ok(at)
    last = session(at).variants[-1]
    assert last.gray == "learned:g-test" and last.channels == "replicate"
    # the sidebar editor lists the learned rule among the gray choices
    gray_boxes = [s for s in at.selectbox if s.key and s.key.endswith(":gray")]
    assert gray_boxes and "learned:g-test" in gray_boxes[0].options


def test_the_labs_settings_survive_a_page_visit_and_travel_in_its_link() -> None:
    at = open_app("pages/autoencoder_lab.py", START)
    at.number_input(key="ael_s_steps__widget").set_value(20).run()
    at.number_input(key="ael_g_epochs__widget").set_value(3).run()
    at.multiselect(key="ael_s_regimes__widget").set_value(["plain", "blindspot"]).run()
    at.selectbox(key="ael_s_prefilter__widget").set_value("wavelet").run()
    at.switch_page("pages/compare.py").run()  # Streamlit forgets the widgets a page did not draw
    at.switch_page("pages/autoencoder_lab.py").run()
    ok(at)
    assert at.number_input(key="ael_s_steps__widget").value == 20
    assert at.number_input(key="ael_g_epochs__widget").value == 3
    assert at.multiselect(key="ael_s_regimes__widget").value == ["plain", "blindspot"]
    assert at.selectbox(key="ael_s_prefilter__widget").value == "wavelet"
    link = dict(at.query_params)
    assert link["ael_s_steps"] in ("20", ["20"]) and "ael_g_overwrite" not in link  # overwriting never travels
    # a link sets them (a reload keeps the address); a number outside the widget's bounds is brought inside, an
    # unknown regime is left out
    other = open_app("pages/autoencoder_lab.py", START, ael_s_steps="999999", ael_g_epochs="0",
                     ael_s_regimes="blindspot,nonsense,plain", ael_g_name="mine")
    ok(other)
    assert other.number_input(key="ael_s_steps__widget").value == 20000
    assert other.number_input(key="ael_g_epochs__widget").value == 1
    assert other.multiselect(key="ael_s_regimes__widget").value == ["blindspot", "plain"]
    assert other.text_input(key="ael_g_name__widget").value == "mine"
