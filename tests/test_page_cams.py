"""Activation maps on the Compare page: the toggle, one color scale, the numbers and the exports."""

import json

import pytest

from components import cams, exports
from core.explain import explain
from core.inspect.engine import inspect
from core.preprocess.variant import Variant
from tests.apptest import ok, open_app

VARIANTS = [Variant(name="rgb"), Variant(name="turbo", channels="colormap", colormap="turbo")]


@pytest.fixture(scope="module")
def report(model, chelsea_signal):
    return explain(chelsea_signal, VARIANTS, model, method="gradcam", layer="stage7")


def test_maps_share_one_color_scale_with_one_color_bar(report):
    fig = cams.cam_figure(report)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2 and len([t for t in fig.data if t.type == "image"]) == 2
    assert {(t.zmin, t.zmax) for t in heat} == {(0.0, report.vmax)}
    assert report.vmax == pytest.approx(max(float(v.map.max()) for v in report.variants))
    assert [t.showscale for t in heat] == [True, False]
    frame = cams.summary_frame(report)
    assert list(frame["variant"]) == ["rgb", "turbo"] and frame["Spearman vs ref"].iloc[0] == pytest.approx(1.0)
    png = cams.maps_png(report)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_export_json_carries_the_map_summaries(report, model, chelsea_signal):
    data = json.loads(exports.result_json(inspect(chelsea_signal, VARIANTS, model), "chelsea", report))
    cam = data["variants"][1]["cam"]
    assert cam["method"] == "gradcam" and cam["layer"] == "stage7"
    assert cam["agreement_iou"] == report.variants[1].agreement_iou
    assert "cam" not in json.loads(exports.result_json(inspect(chelsea_signal, VARIANTS, model)))["variants"][0]


@pytest.mark.slow
def test_compare_page_shows_maps_when_the_toggle_is_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path))
    at = open_app("pages/compare.py", VARIANTS)
    ok(at)
    toggle = next(t for t in at.toggle if t.key == "compare_cam")
    assert toggle.value is False and not any(s.value == "Activation maps" for s in at.subheader)
    toggle.set_value(True).run()
    ok(at)
    assert any(s.value == "Activation maps" for s in at.subheader)
    assert at.query_params["cam"] in ("1", ["1"])  # the link reproduces the view with the maps on
    layer = next(s for s in at.selectbox if s.key == "cam_layer_w")
    assert layer.value == "head"
    frame = next(d for d in at.dataframe if "deletion AUC" in d.value.columns).value
    assert list(frame["variant"]) == ["rgb", "turbo"]
    next(s for s in at.selectbox if s.key == "cam_method_w").set_value("eigencam").run()
    ok(at)
    assert any("EigenCAM" in c.value for c in at.caption)
