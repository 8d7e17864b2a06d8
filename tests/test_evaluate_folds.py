"""Cross-validation, pooled scores, per-item evidence, honest power and identical-input groups."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidDataset
from core.evaluate.datasets import Dataset, Item, builtin_digits, open_dataset
from core.evaluate.folds import make_evaluation, normalize_cv
from core.evaluate.metrics import fold_paired_test, mcnemar_exact
from core.evaluate.power import MIN_DISCORDANT, MIN_TEST_ITEMS, result_notes, size_notes
from core.evaluate.sameinput import display_rows
from core.evaluate.sweep import SweepResult, evaluate_sweep
from core.preprocess.variant import Resize, Variant
from tests.test_evaluate_sweep import _count_forwards


def _synthetic(n_groups: int = 6, per_group: int = 10, classes: int = 2, groups: bool = True) -> Dataset:
    """Items only (folds never decode): ``n_groups`` groups, each holding every class."""
    items = [Item(f"/x/{g}_{i}.wav", i % classes, f"spk{g}" if groups else None)
             for g in range(n_groups) for i in range(per_group)]

    def never(item):  # noqa: ANN001, ANN202
        raise AssertionError("folds must not decode items")

    return Dataset("synthetic", [f"c{c}" for c in range(classes)], items, "audio", "synthetic", "d" * 24, never)


def _assert_partition(ev, ds: Dataset) -> None:
    tested = np.concatenate([f.test_idx for f in ev.folds])
    assert sorted(tested.tolist()) == list(range(len(ds)))  # every item tested exactly once
    for f in ev.folds:
        assert not set(f.train_idx.tolist()) & set(f.test_idx.tolist())
        assert len(f.train_idx) + len(f.test_idx) == len(ds)


def test_leave_one_group_out_is_the_default_for_few_groups_and_never_splits_a_group() -> None:
    ds = _synthetic(n_groups=6)
    ev = make_evaluation(ds, cv="auto")
    assert ev.kind == "leave-one-group-out" and len(ev.folds) == 6
    _assert_partition(ev, ds)
    groups = np.array(ds.groups)
    for f in ev.folds:
        test_groups = set(groups[f.test_idx])
        assert test_groups == {f.name}  # the fold is named after its one group
        assert not test_groups & set(groups[f.train_idx])
    d = ev.describe()
    assert d["n_test"] == len(ds) and [x["name"] for x in d["folds"]] == [f"spk{g}" for g in range(6)]


def test_grouped_kfold_keeps_every_group_on_one_side() -> None:
    ds = _synthetic(n_groups=12)
    assert make_evaluation(ds, cv="auto").kind == "held-out" or make_evaluation(ds, cv="auto").kind == "grouped"
    ev = make_evaluation(ds, cv=4, seed=3)
    assert ev.kind == "grouped-kfold" and len(ev.folds) == 4
    _assert_partition(ev, ds)
    groups = np.array(ds.groups)
    for f in ev.folds:
        assert not set(groups[f.test_idx]) & set(groups[f.train_idx])
    with pytest.raises(InvalidDataset, match="at least 13 groups"):
        make_evaluation(ds, cv=13)


def test_stratified_kfold_without_groups_and_refusals() -> None:
    ds = _synthetic(n_groups=5, per_group=10, classes=2, groups=False)  # 25 items per class
    ev = make_evaluation(ds, cv=5, seed=0)
    assert ev.kind == "stratified-kfold" and [f.name for f in ev.folds] == [f"fold {k}" for k in range(1, 6)]
    _assert_partition(ev, ds)
    for f in ev.folds:
        assert np.bincount(ds.labels[f.test_idx]).tolist() == [5, 5]
    assert make_evaluation(ds, cv="auto").kind == "stratified"  # no groups: one split
    with pytest.raises(InvalidDataset, match="at least 30 items per class"):
        make_evaluation(ds, cv=30)
    with pytest.raises(InvalidDataset, match="carry groups"):
        make_evaluation(ds, cv="groups")
    with pytest.raises(InvalidDataset, match="Zero-shot trains nothing"):
        make_evaluation(ds, cv=5, method="zeroshot")
    with pytest.raises(InvalidDataset, match="given test set"):
        make_evaluation(ds, ds, cv=5)
    with pytest.raises(InvalidDataset, match="number of folds K"):
        normalize_cv("five")
    assert normalize_cv("1") == "none" and normalize_cv(" Groups ") == "groups" and normalize_cv("10") == 10


def test_fsdd_defaults_to_leave_one_speaker_out(shared_data) -> None:
    with open_dataset(shared_data("fsdd")) as src:
        ds = src.train
        ev = make_evaluation(ds)
    assert ev.kind == "leave-one-group-out" and len(ev.folds) == 5
    assert [f.name for f in ev.folds] == sorted({g for g in ds.groups})
    assert [len(f.test_idx) for f in ev.folds] == [500] * 5 and ev.n_test == 2500


def test_power_notes_fire_for_8_test_items_and_not_for_153() -> None:
    eight = size_notes(8)
    assert len(eight) == 1 and "8 test items" in eight[0] and "75%" in eight[0]
    assert size_notes(153) == [] and result_notes(153, 1, 140) == []
    assert MIN_DISCORDANT == 6 and MIN_TEST_ITEMS == 60
    # the sentence's claim: p < 0.05 needs the two sides of the discordant items to differ by at least 6
    for b in range(40):
        for c in range(40):
            r = np.array([True] * b + [False] * c, dtype=bool)
            p, _, _ = mcnemar_exact(r, ~r)
            assert (p < 0.05) <= (abs(b - c) >= MIN_DISCORDANT), (b, c, p)
    assert any("only 3 of 153" in n and "better" in n for n in result_notes(153, 1, 150))
    assert "Use all items or cross-validation" in size_notes(8, subsampled=True)[0]
    assert "Use cross-validation (every item tested once) or more items" in size_notes(8)[0]
    assert "Only more items can help" in size_notes(40, 5)[0]
    assert "Use all items." in size_notes(40, 5, subsampled=True)[0]
    assert any("5 folds" in n and "0.0625" in n for n in size_notes(2500, 5))
    assert not any("folds" in n for n in size_notes(2500, 10))


def test_fold_paired_test() -> None:
    assert fold_paired_test([5], [6], [10]) is None  # one fold: no test across folds
    assert fold_paired_test([5, 6, 7], [5, 6, 7], [10, 10, 10]) == 1.0
    assert fold_paired_test([1] * 5, [2] * 5, [10] * 5) == pytest.approx(0.0625)
    assert fold_paired_test([1] * 10, [2] * 10, [10] * 10) == pytest.approx(2 / 2**10)


def test_display_rows_collapse_groups_in_variant_order() -> None:
    rows = display_rows(["a", "b", "c", "d"], [["b", "d"]])
    assert rows == [("a", 0, [0]), ("b = d", 1, [1, 3]), ("c", 2, [2])]


# ------------------------------------------------------------------------------------------- sweeps

PAIR = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
        Variant(name="jet", resize=Resize(size=32), channels="colormap", colormap="jet")]


@pytest.fixture(scope="module")
def digits_60():
    return builtin_digits().sample_per_class(6, seed=0)  # 60 items


@pytest.mark.slow
def test_k_folds_cost_one_extraction_and_pool_every_item_once(digits_60, model, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_forwards(model, monkeypatch)
    single = evaluate_sweep(digits_60, PAIR, model, cv="none", cache_dir=tmp_path / "a")
    one_split = calls[0]
    assert one_split == 2 * len(digits_60)
    cv = evaluate_sweep(digits_60, PAIR, model, cv=5, cache_dir=tmp_path / "b")
    assert calls[0] - one_split <= one_split  # K folds: no more forward passes than one split
    before = calls[0]
    again = evaluate_sweep(digits_60, PAIR, model, cv=3, cache_dir=tmp_path / "b", seed=4)
    assert calls[0] == before  # other folds of the same items: features from the cache

    for res in (cv, again):
        y = res.labels
        assert sorted(it.path for it in res.items) == sorted(f"#{i}" for i in range(1797) if any(
            it.ref == i for it in digits_60.items))
        assert len(res.items) == len(digits_60) == res.variants[0].n_test  # each item tested exactly once
        for k, v in enumerate(res.variants):
            per_item = (v.predicted == y)
            assert v.accuracy == pytest.approx(per_item.mean())  # pooled accuracy = mean over items
            assert v.n_correct == sum(f["n_correct"] for f in v.folds) == int(per_item.sum())
            assert sum(f["n_test"] for f in v.folds) == v.n_test
            assert np.array_equal(res.correct(k), per_item)
            assert ((v.confidence > 0) & (v.confidence <= 1)).all()
    assert len(cv.folds) == 5 and cv.provenance["split"]["kind"] == "stratified-kfold"
    jet = cv.variants[1]
    assert jet.fold_test_p is not None and 0 < jet.fold_test_p <= 1 and jet.fold_spread["min"] <= jet.accuracy
    assert single.variants[0].fold_test_p is None and len(single.folds) == 1
    assert single.variants[0].n_test == 12

    data = json.loads(json.dumps(cv.to_dict()))
    v1 = data["variants"][1]
    assert [set(f) >= {"name", "n_test", "accuracy"} for f in v1["folds"]] == [True] * 5
    assert isinstance(v1["fold_test_p"], float) and data["variants"][0]["fold_test_p"] is None
    assert len(v1["items"]) == 60 and set(v1["items"][0]) == {"name", "label", "predicted", "confidence"}
    assert v1["n_test"] == 60 and v1["ci95"][0] <= v1["accuracy"] <= v1["ci95"][1]
    assert SweepResult.from_dict(data).to_dict() == data
    rows = cv.items_csv().splitlines()
    assert rows[0] == "item,path,label,group,fold,variant,predicted,confidence,correct" and len(rows) == 1 + 2 * 60


@pytest.mark.slow
def test_identical_inputs_are_grouped_on_one_channel_data(digits_60, model, tmp_path: Path) -> None:
    variants = [Variant(name="rgb", resize=Resize(size=32)),
                Variant(name="gray-replicate", resize=Resize(size=32), channels="replicate"),
                Variant(name="gray-conv-sum", resize=Resize(size=32), channels="conv-sum"),
                Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis"),
                Variant(name="gray cmap", resize=Resize(size=32), channels="colormap", colormap="gray")]
    res = evaluate_sweep(digits_60, variants, model, cv="none", cache_dir=tmp_path)
    assert [g["variants"] for g in res.identical] == [["rgb", "gray-replicate", "gray-conv-sum", "gray cmap"]]
    reason = res.identical[0]["reason"]
    assert "rgb equals gray-replicate on one-channel data" in reason and "same mean and std" in reason
    assert [v.same_input_as for v in res.variants] == [None, "rgb", "rgb", None, "rgb"]
    assert res.variants[1].mcnemar_p == 1.0 and res.variants[3].same_input_as is None
    from core.evaluate.report import sweep_table

    table = sweep_table(res)
    assert "rgb = gray-replicate = gray-conv-sum = gray cmap (ref)" in table and "None" not in table
    assert table.splitlines()[2].split()[-2] == "—"  # the reference's missing p


def _two_class_folder(root: Path, per_class: int = 20) -> Path:
    digits = builtin_digits()
    for c in ("0", "1"):
        (root / f"digit{c}").mkdir(parents=True)
        idx = [i for i, it in enumerate(digits.items) if digits.classes[it.label] == c][:per_class]
        for i in idx:
            img = (digits.load(digits.items[i]).array * 255).astype(np.uint8)
            Image.fromarray(img).resize((32, 32), Image.NEAREST).save(root / f"digit{c}" / f"{i}.png")
    return root


@pytest.mark.slow
def test_eight_test_items_get_the_power_note_in_the_json(model, tmp_path: Path) -> None:
    folder = _two_class_folder(tmp_path / "forty")
    with open_dataset(folder) as src:
        res = evaluate_sweep(src.train, PAIR, model, cv="none", test_fraction=0.2, cache_dir=tmp_path / "c")
        assert res.variants[0].n_test == 8
        data = res.to_dict()
        assert any("With 8 test items" in n for n in data["notes"])
        assert {it["path"] for it in data["items"]} <= {f"digit{c}/{p.name}" for c in "01"
                                                      for p in (folder / f"digit{c}").iterdir()}
        cv = evaluate_sweep(src.train, PAIR, model, cv=5, cache_dir=tmp_path / "c")
    # cross-validation tests all 40 items (still under 60: the note stays, with the new size)
    assert cv.variants[0].n_test == 40 and [n for n in cv.notes if "test items" in n][0].startswith("With 40 test")
