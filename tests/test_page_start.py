"""The Start page through AppTest: an upload is answered at once (input, the reference's top-5, one line on the
variants, a link to Compare); each question's "Where to look" opens the right page with its switches; the two
job cards open Accuracy and Audio ready to use."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.preprocess.presets import get_preset, preset_questions
from tests.apptest import ok, open_app, plain, session, uploader


def _photo() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()[::2, ::2]).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_an_upload_on_start_shows_what_the_network_makes_of_it() -> None:
    at = open_app(None, preset="interpolation")
    assert not any("What the network makes of" in plain(h.value) for h in at.subheader)  # nothing before an upload
    uploader(at, "sb_upload").set_value(("portrait.png", _photo(), "image/png")).run()
    ok(at)
    assert at.title[0].value == "prepscope"  # still the Start page
    assert any(plain(h.value) == "What the network makes of portrait.png" for h in at.subheader)
    top5 = next(plain(c.value) for c in at.caption if c.value.startswith("1\\. "))
    assert len(top5.splitlines()) == 5 and all("%" in line for line in top5.splitlines())
    summary = next(plain(m.value) for m in at.markdown if "similarity to the reference ranges" in plain(m.value))
    from components.results import upload_summary
    from core.inspect.engine import inspect
    from core.io import load_input
    from core.models import load_model

    expected = inspect(load_input(_photo(), name="portrait.png"), get_preset("interpolation"), load_model())
    assert summary == upload_summary(expected)
    assert any("Reference top-1:" in plain(m.value) for m in at.markdown)
    links = [e for e in at.get("page_link")]
    assert any("Compare" in link.proto.label for link in links)


def test_where_to_look_opens_the_page_layer_and_switches_of_the_question() -> None:
    q = next(q for q in preset_questions() if q.preset == "interpolation")
    assert q.where.page == "feature_maps" and dict(q.where.options) == {"fm_layer": "stem", "fm_diff": True}
    at = open_app(None)
    at.button(key="start_where_interpolation").click().run()
    ok(at)
    assert at.title[0].value == "Feature maps"
    assert at.selectbox(key="fm_layer_widget").value == "stem" and at.toggle(key="fm_diff_widget").value is True
    assert at.query_params["fm_layer"] == "stem" and at.query_params["fm_diff"] == "1"
    assert at.query_params["sample"] == "brick" and at.query_params["preset"] == "interpolation"


def test_every_question_says_where_to_look_on_a_real_page_with_its_own_switches() -> None:
    from components.session import option_page
    from components.shell import PAGES

    files = {path.removeprefix("pages/").removesuffix(".py") for path, _, _ in PAGES}
    for q in preset_questions():
        assert q.where is not None and q.where.page in files and q.where.text, q.preset
        assert all(option_page(key) == q.where.page for key, _ in q.where.options), q.where


def test_the_two_job_cards_open_accuracy_and_audio_ready_to_use() -> None:
    at = open_app(None)
    at.button(key="start_accuracy").click().run()
    ok(at)
    assert at.title[0].value == "Accuracy"
    assert at.session_state["acc_builtin"] == "digits" and at.radio(key="acc_source").value == "Built-in"
    assert any("Checking a labelled dataset" in i.value for i in at.info)

    at = open_app(None)
    at.button(key="start_audio").click().run()
    ok(at)
    assert at.title[0].value == "Audio"
    assert session(at).sample.startswith("sound:") and session(at).variants == get_preset("spectrogram")
    assert not any("center-crop" in w.value for w in at.warning)  # the preset stretches: nothing cropped
    assert len(at.get("plotly_chart")) >= 2  # the waveform and the results
