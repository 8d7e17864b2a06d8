"""The Accuracy page through Streamlit's AppTest: the plan before running, a tiny built-in sweep with its results,
the run it was recorded as, out-of-date marking, a failed run clearing old results, folds and item evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.accuracy import ITEM_FILTERS, items_frame
from core.preprocess.variant import Resize, Variant
from core.runs import RunStore
from tests.apptest import open_app, run_job, session

TINY = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
        Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis")]


def _app():
    return open_app("pages/accuracy.py", TINY)


def _frame(at, column: str):  # noqa: ANN202 - the first dataframe on the page with this column
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise KeyError(column)


def _has_frame(at, column: str) -> bool:
    return any(column in d.value.columns for d in at.dataframe)


def _texts(at, kind: str) -> str:
    return " ".join(e.value for e in getattr(at, kind))


def test_page_renders_controls_the_plan_and_the_seeded_variants() -> None:
    at = _app()
    assert not at.exception
    assert [r.key for r in at.radio] == ["acc_source", "acc_method"]
    assert "Variants: gray, viridis" in " ".join(t.value for t in at.text)
    assert at.session_state["acc_method"] == "probe"
    assert session(at).accuracy_run is None
    # before running: the digits (1,797 items, under 2,000) are used whole; one 20% split = 359 test items
    assert "359 test items" in _texts(at, "info") and "1,797 items" in _texts(at, "info")
    at.number_input(key="acc_per_class").set_value(4).run()
    assert "10 test items" in _texts(at, "info")  # 40 items, one per class held out at least
    assert "With 10 test items" in _texts(at, "warning")  # the power note, with the offers
    at.button(key="acc_offer_cv").click().run()
    assert at.session_state["acc_eval"] == "K-fold cross-validation" and at.session_state["acc_k"] == 4
    assert "40 test items" in _texts(at, "info")


@pytest.mark.slow
def test_tiny_sweep_is_recorded_marked_out_of_date_and_cleared_by_a_failure(tmp_path: Path) -> None:
    at = _app()
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(8)
    run_job(at, "acc_run")
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    frame = _frame(at, "mcnemar_p")
    assert list(frame["variant"]) == ["gray (reference)", "viridis"]
    assert frame["n_test"].tolist() == [16, 16]  # 80 items, 20% held out, stratified
    assert frame["mcnemar_p"].iloc[0] == "—" and "None" not in frame.to_string()
    result = session(at).accuracy_run.result
    assert result.run_id == 1 and "Run #1" in " ".join(h.value for h in at.subheader)
    assert RunStore().load(1).to_dict() == result.to_dict()  # recorded exactly
    assert "digits" in _texts(at, "caption") and "With 16 test items" in _texts(at, "warning")
    assert json.loads(json.dumps(result.to_dict()))["variants"][0]["name"] == "gray"
    # results survive a rerun that does not click Run again, and are not out of date
    at.run()
    assert not at.exception and "out of date" not in " ".join(h.value for h in at.subheader)
    assert list(_frame(at, "mcnemar_p")["variant"]) == ["gray (reference)", "viridis"]
    # a changed setting marks them out of date at once
    at.number_input(key="acc_seed").set_value(3).run()
    assert "out of date" in " ".join(h.value for h in at.subheader)
    assert "Out of date: seed changed" in _texts(at, "warning")
    # a failed run never leaves other settings' results on screen
    at.radio(key="acc_method").set_value("zeroshot").run()
    run_job(at, "acc_run")
    assert "no match for '0'" in _texts(at, "error")
    assert session(at).accuracy_run is None
    assert not _has_frame(at, "mcnemar_p")
    assert len(RunStore().list()) == 1


@pytest.mark.slow
def test_cross_validated_sweep_shows_folds_per_class_and_items() -> None:
    at = _app()
    at.number_input(key="acc_per_class").set_value(6)
    at.selectbox(key="acc_eval").set_value("K-fold cross-validation").run()
    at.number_input(key="acc_k").set_value(3)
    run_job(at, "acc_run")
    assert not at.exception, at.exception
    result = session(at).accuracy_run.result
    assert len(result.folds) == 3 and result.variants[0].n_test == 60
    folds = _frame(at, "fold 1 (n=20)")
    assert list(folds.columns) == ["variant", "fold 1 (n=20)", "fold 2 (n=20)", "fold 3 (n=20)"]
    per_class = _frame(at, "9")
    assert list(per_class.columns) == ["variant"] + [str(d) for d in range(10)]
    assert per_class.iloc[0, 1:].tolist() == [result.variants[0].per_class[str(d)] for d in range(10)]
    assert "Test items per class: 6 each." in _texts(at, "caption")
    items = _frame(at, "item")
    assert len(items) == 50 and items["thumbnail"].str.startswith("data:image/png;base64,").all()
    at.selectbox(key="acc_items_show").set_value(ITEM_FILTERS[1]).run()
    wrong = _frame(at, "item")
    assert (wrong["reference"] != wrong["class"]).all()
    assert len(wrong) == 60 - result.variants[0].n_correct
    assert _frame(at, "mcnemar_p")["fold_test_p"].tolist()[0] == "—"


def test_item_filters_select_the_right_items() -> None:
    import numpy as np

    from core.evaluate.sweep import ScoredItem, SweepResult, VariantScore

    items = [ScoredItem(f"i{k}", f"i{k}.png", k % 2, None, 0) for k in range(6)]
    y = np.array([0, 1, 0, 1, 0, 1])
    ref = np.array([0, 1, 1, 0, 0, 1])  # wrong on 2, 3
    var = np.array([0, 0, 0, 0, 0, 1])  # wrong on 1, 3: breaks 1, fixes 2

    def vs(name: str, pred: np.ndarray, conf: list[float]) -> VariantScore:
        return VariantScore(name, {}, float((pred == y).mean()), (0, 1), 0.5, 6, int((pred == y).sum()), {}, [],
                            None, None, 0.0, False, predicted=pred, confidence=np.array(conf, np.float32))

    res = SweepResult("probe", ["a", "b"], [vs("ref", ref, [.9] * 6), vs("v", var, [.5, .2, .8, .6, .7, .9])],
                      {}, 0.0, items, [{"name": "held-out", "n_train": 0, "n_test": 6}])
    assert items_frame(res, 1, ITEM_FILTERS[1])["item"].tolist() == ["i3", "i2"]  # confidence, lowest first
    assert items_frame(res, 1, ITEM_FILTERS[2])["item"].tolist() == ["i1"]
    assert items_frame(res, 1, ITEM_FILTERS[3])["item"].tolist() == ["i2"]
    assert items_frame(res, 1, ITEM_FILTERS[4])["item"].tolist()[:2] == ["i1", "i0"]
    assert items_frame(res, 1, ITEM_FILTERS[0], "name")["item"].tolist() == [f"i{k}" for k in range(6)]


@pytest.mark.slow
def test_sounds_leave_one_group_out_and_get_players() -> None:
    at = _app()
    at.selectbox(key="acc_builtin").set_value("sounds")
    at.number_input(key="acc_per_class").set_value(3).run()  # 3 clips per class: one per recording condition
    assert "21 test items" in _texts(at, "info") and "leave-one-group-out" in _texts(at, "info")
    run_job(at, "acc_run")
    assert not at.exception, at.exception
    result = session(at).accuracy_run.result
    assert [f["name"] for f in result.folds] == ["clean", "mild", "noisy"]
    audio = at.get("audio")
    assert len(audio) == min(12, len(_frame(at, "item")))  # a player per item of the page, up to 12
    assert "view" not in _frame(at, "item").columns and "thumbnail" not in _frame(at, "item").columns


def test_an_engine_the_server_does_not_know_fails_the_job_with_the_variable_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREPSCOPE_ENGINE", "spark")
    at = _app()
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(4)
    run_job(at, "acc_run")
    assert not at.exception
    shown = _texts(at, "error").replace("\\_", "_")
    assert "PREPSCOPE_ENGINE='spark' names no extraction engine" in shown, shown
