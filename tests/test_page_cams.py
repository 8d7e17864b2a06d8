"""Activation maps on the Compare page: the toggle, one color scale, the numbers and the exports."""

import dataclasses
import json

import pytest

from components import cams, exports
from core.explain import explain
from core.inspect.engine import inspect
from core.preprocess.variant import Variant
from tests.apptest import ok, open_app, run_job, session

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
    # rgb() colors only: Streamlit's frontend rewrites the hex colors #000001-#000040
    assert all(str(c).startswith("rgb(") for t in heat for _, c in t.colorscale)
    hostile = dataclasses.replace(report, variants=[dataclasses.replace(report.variants[0], name="<b>x</b> %{y}"),
                                                    *report.variants[1:]])
    shown = cams.cam_figure(hostile)
    assert "<b>x</b>" not in shown.layout.annotations[0].text and "%{y}" not in shown.data[1].hovertemplate
    frame = cams.summary_frame(report)
    assert list(frame["variant"]) == ["rgb", "turbo"] and frame["Spearman vs ref"].iloc[0] == pytest.approx(1.0)
    png = cams.maps_png(report)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_export_json_carries_the_map_summaries(report, model, chelsea_signal):
    data = json.loads(exports.result_json(inspect(chelsea_signal, VARIANTS, model), "chelsea", cams=report))
    cam = data["variants"][1]["cam"]
    assert cam["method"] == "gradcam" and cam["layer"] == "stage7"
    assert cam["agreement_iou"] == report.variants[1].agreement_iou
    assert "cam" not in json.loads(exports.result_json(inspect(chelsea_signal, VARIANTS, model)))["variants"][0]


@pytest.mark.slow
def test_compare_page_shows_maps_when_the_toggle_is_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PREPSCOPE_HOME", str(tmp_path))
    at = open_app("pages/compare.py", VARIANTS)
    ok(at)
    toggle = next(t for t in at.toggle if t.key == "compare_cam__widget")
    assert toggle.value is False and not any(s.value == "Activation maps" for s in at.subheader)
    toggle.set_value(True).run()
    ok(at)
    assert any(s.value == "Activation maps" for s in at.subheader)
    assert at.query_params["compare_cam"] in ("1", ["1"])  # the link reproduces the view with the maps on
    layer = next(s for s in at.selectbox if s.key == "compare_cam_layer__widget")
    assert layer.value == "head"
    frame = next(d for d in at.dataframe if "deletion AUC" in d.value.columns).value
    assert list(frame["variant"]) == ["rgb", "turbo"]
    next(s for s in at.selectbox if s.key == "compare_cam_method__widget").set_value("eigencam").run()
    ok(at)
    assert any("EigenCAM" in c.value for c in at.caption)


@pytest.mark.slow
def test_accuracy_page_compares_models_and_reestimates_batchnorm(tmp_path, monkeypatch):
    from core.preprocess.variant import Resize
    from core.runs import RunStore

    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    tiny = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
            Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]
    at = open_app("pages/accuracy.py", tiny)
    ok(at)
    assert at.multiselect(key="acc_models").value == ["efficientnet_lite0"]  # the sidebar's model
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(6)
    at.checkbox(key="acc_adapt").check().run()
    assert any("BatchNorm re-estimation: 1 re-estimation per distinct variant" in c.value for c in at.caption)
    run_job(at, "acc_run")
    ok(at)
    assert not at.error, [e.value for e in at.error]
    result = session(at).accuracy_run.result
    assert "BatchNorm re-estimation (AdaBN)" in " ".join(m.value for m in at.markdown)
    adapted = next(d.value for d in at.dataframe if "BN re-estimated" in d.value.columns)
    assert list(adapted["variant"]) == ["gray", "viridis"]
    assert adapted["BN re-estimated"].tolist() == [v.adapted["accuracy"] for v in result.variants]
    items = next(d.value for d in at.dataframe if "adapted_predicted" in d.value.columns)  # per item, after AdaBN
    assert len(items) == result.variants[1].n_test
    assert RunStore().load(result.run_id).to_dict() == result.to_dict()  # the adapted scores are recorded
    # the method radio disables the checkbox for methods that train their own input layer
    at.radio(key="acc_method").set_value("adapter").run()
    assert at.checkbox(key="acc_adapt").disabled
    at.radio(key="acc_method").set_value("probe").run()
    at.multiselect(key="acc_models").set_value(["efficientnet_lite0", "mobilenet_v3_small"])
    at.checkbox(key="acc_adapt").uncheck().run()
    assert "out of date" in " ".join(h.value for h in at.subheader)
    run_job(at, "acc_run")
    ok(at)
    multi = session(at).accuracy_run.result
    assert [r.run_id for r in multi.results] == [result.run_id + 1, result.run_id + 2]  # one run per model
    frame = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert list(frame["model"]) == ["efficientnet_lite0"] * 2 + ["mobilenet_v3_small"] * 2
    assert frame["input_size"].tolist() == [224] * 4  # each model's own input size
    assert list(frame["run"]) == [f"#{result.run_id + 1}"] * 2 + [f"#{result.run_id + 2}"] * 2
    chart = at.get("plotly_chart")[0]
    spec = json.loads(chart.proto.spec)
    assert [t["name"] for t in spec["data"] if t["type"] == "bar"] == ["efficientnet_lite0", "mobilenet_v3_small"]
    assert spec["layout"]["barmode"] == "group"
    assert [t.label for t in at.tabs] == ["Model × variant", f"efficientnet_lite0 (run #{result.run_id + 1})",
                                          f"mobilenet_v3_small (run #{result.run_id + 2})"]
    assert len([d for d in at.dataframe if "reference_confidence" in d.value.columns]) == 2  # each model's items
    assert "out of date" not in " ".join(h.value for h in at.subheader)


@pytest.mark.slow
def test_accuracy_page_finetunes_within_cross_validation(tmp_path, monkeypatch):
    import core.evaluate.methods.finetune as ft
    from core.preprocess.variant import Resize
    from core.runs import RunStore

    monkeypatch.setattr(ft, "MAX_EPOCHS", 1)
    monkeypatch.setenv("PREPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    tiny = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
            Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]
    at = open_app("pages/accuracy.py", tiny)
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(4)
    at.radio(key="acc_method").set_value("finetune").run()
    assert at.checkbox(key="acc_adapt").disabled  # finetune trains its own BatchNorm layers
    at.selectbox(key="acc_eval").set_value("K-fold cross-validation").run()
    at.number_input(key="acc_k").set_value(2).run()
    assert any("fine-tuning: 2 trainings per distinct variant" in c.value for c in at.caption)
    run_job(at, "acc_run")
    ok(at)
    assert not at.error, [e.value for e in at.error]
    result = session(at).accuracy_run.result
    assert result.method == "finetune" and len(result.folds) == 2
    ft_frame = next(d.value for d in at.dataframe if "McNemar p vs probe" in d.value.columns)
    assert list(ft_frame["variant"]) == ["gray", "viridis"] and "fold test p vs probe" in ft_frame.columns
    assert ft_frame["probe"].tolist() == [v.details["probe"]["accuracy"] for v in result.variants]
    folds = next(d.value for d in at.dataframe if "fold 1 (n=20)" in d.value.columns)  # the per-fold table
    assert len(folds) == 2
    assert RunStore().load(result.run_id).to_dict() == result.to_dict()
    # the zero-shot refusal of re-estimation is said before running
    at.selectbox(key="acc_eval").set_value("automatic")
    at.radio(key="acc_method").set_value("zeroshot").run()
    at.checkbox(key="acc_adapt").check().run()
    assert any("needs training items" in w.value for w in at.warning)
