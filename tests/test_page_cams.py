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


@pytest.mark.slow
def test_accuracy_page_compares_models_and_reestimates_batchnorm(tmp_path, monkeypatch):
    from core.preprocess.variant import Resize

    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    tiny = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
            Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]
    at = open_app("pages/accuracy.py", tiny)
    ok(at)
    assert at.multiselect(key="acc_models").value == ["efficientnet_lite0"]
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(6)
    at.checkbox(key="acc_adapt").check()
    at.button(key="acc_run").click().run()
    ok(at)
    assert not at.error, [e.value for e in at.error]
    assert any(s.value == "BatchNorm re-estimation (AdaBN)" for s in at.subheader)
    adapted = next(d.value for d in at.dataframe if "BN re-estimated" in d.value.columns)
    assert list(adapted["variant"]) == ["gray", "viridis"]
    at.multiselect(key="acc_models").set_value(["efficientnet_lite0", "mobilenet_v3_small"])
    at.checkbox(key="acc_adapt").uncheck()
    at.button(key="acc_run").click().run()
    ok(at)
    frame = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert list(frame["model"]) == ["efficientnet_lite0"] * 2 + ["mobilenet_v3_small"] * 2
    assert frame["input_size"].tolist() == [224] * 4  # each model's own input size
    chart = at.get("plotly_chart")[0]
    spec = json.loads(chart.proto.spec)
    assert [t["name"] for t in spec["data"] if t["type"] == "bar"] == ["efficientnet_lite0", "mobilenet_v3_small"]
    assert spec["layout"]["barmode"] == "group"
