"""The Runs page through AppTest: the list with filters, opening a run without computing (forward count 0),
reopening it from a link, comparing two runs of one dataset paired on their shared items, deleting."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.evaluate.datasets import builtin_digits
from core.evaluate.sweep import SweepResult, evaluate_sweep
from core.preprocess.variant import Resize, Variant
from core.runs import RunStore
from core.runs.compare import NotComparable, compare, compare_table
from tests.apptest import open_app
from tests.test_evaluate_sweep import _count_forwards

TWO = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
       Variant(name="jet", resize=Resize(size=32), channels="colormap", colormap="jet")]


@pytest.fixture(scope="module")
def two_runs(model, tmp_path_factory: pytest.TempPathFactory) -> tuple[SweepResult, SweepResult]:
    ds = builtin_digits().sample_per_class(5, seed=2)
    cache = tmp_path_factory.mktemp("cache")
    a = evaluate_sweep(ds, TWO, model, cv=5, cache_dir=cache)
    b = evaluate_sweep(ds, TWO[:1] + [TWO[1].replace(name="viridis", colormap="viridis")], model, cv=5, seed=1,
                       cache_dir=cache)
    return a, b


def _frame(at, column: str):  # noqa: ANN202
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise KeyError(column)


def test_empty_history_says_how_runs_arrive() -> None:
    at = open_app("pages/runs.py")
    assert not at.exception
    assert "No runs yet" in " ".join(i.value for i in at.info)


def test_open_reopen_and_compare_compute_nothing(two_runs, model, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = two_runs
    store = RunStore()
    store.record(a, origin="cli")
    store.record(b, origin="page")
    calls = _count_forwards(model, monkeypatch)
    at = open_app("pages/runs.py")
    assert not at.exception, at.exception
    listing = _frame(at, "run")
    assert listing["run"].tolist() == ["#2", "#1"] and listing["from"].tolist() == ["page", "cli"]
    assert at.selectbox(key="runs_open").value == 2  # the newest opens first
    table = _frame(at, "mcnemar_p")
    assert table["variant"].tolist() == ["gray (reference)", "viridis"]
    assert table["accuracy"].tolist() == [v.accuracy for v in b.variants]
    assert "Run #2" in " ".join(h.value for h in at.subheader)

    at.selectbox(key="runs_open").set_value(1).run()
    assert _frame(at, "mcnemar_p")["accuracy"].tolist() == [v.accuracy for v in a.variants]
    assert at.query_params["run"] == "1"
    # reopened from the link
    again = open_app("pages/runs.py", run="1")
    assert again.selectbox(key="runs_open").value == 1 and not again.exception

    at.selectbox(key="runs_compare").set_value(2).run()
    assert not at.exception, at.exception
    cmp = _frame(at, "variant A")
    assert cmp["variant A"].tolist() == ["gray"]  # the references (also the only shared name)
    assert cmp["accuracy A"].iloc[0] == pytest.approx(a.variants[0].accuracy)  # every item is shared (both CV)
    assert "50 shared items" in " ".join(m.value for m in at.markdown)
    assert calls[0] == 0  # nothing was recomputed

    at.text_input(key="runs_dataset").set_value("no-such-dataset").run()
    assert "No recorded run matches" in " ".join(i.value for i in at.info)
    at.text_input(key="runs_dataset").set_value("").run()
    at.checkbox(key="runs_delete_sure").check().run()
    at.button(key="runs_delete").click().run()
    assert [r.id for r in store.list()] == [2]


def test_compare_pairs_shared_items_only(two_runs) -> None:
    a, b = two_runs
    rows = compare_table(a, b)
    assert [(r.a, r.b) for r in rows] == [("gray", "gray")]
    assert rows[0].n_shared == 50 and rows[0].accuracy_a == pytest.approx(a.variants[0].accuracy)
    r = compare(a, 1, b, 1)
    assert r.a == "jet" and r.b == "viridis" and 0 < r.mcnemar_p <= 1
    half = SweepResult.from_dict({**b.to_dict(), "items": b.to_dict()["items"][:20],
                                  "variants": [{**v, "items": v["items"][:20]} for v in b.to_dict()["variants"]]})
    assert compare(a, 0, half, 0).n_shared == 20
    other = SweepResult.from_dict(a.to_dict())
    other.provenance = {**other.provenance, "dataset": {"train": {**a.provenance["dataset"]["train"],
                                                                  "digest": "x" * 24, "source": "elsewhere"},
                                                        "test": None}}
    with pytest.raises(NotComparable, match="different datasets"):
        compare_table(a, other)


def test_item_evidence_is_found_again_from_the_record(two_runs, tmp_path: Path) -> None:
    from core.evaluate.evidence import items_dataset, open_item, thumbnail_png, try_open

    a, _ = two_runs
    desc = items_dataset(a.provenance)
    signal = open_item(desc, a.items[0].path)
    assert signal.array.shape == (8, 8) and thumbnail_png(signal)[:8] == b"\x89PNG\r\n\x1a\n"
    folder = {"source": str(tmp_path), "root": str(tmp_path), "archive": None, "kind": "image"}
    (tmp_path / "a.png").write_bytes(thumbnail_png(signal))
    assert open_item(folder, "a.png").array.shape[:2] == (72, 72)
    for bad in ("../a.png", "/etc/passwd"):
        assert try_open(folder, bad)[0] is None and "inside the dataset" in try_open(folder, bad)[1]
    gone = {**folder, "root": str(tmp_path / "moved")}
    assert "no longer there" in try_open(gone, "a.png")[1]
    zipped = {"source": "x.zip (zip)", "root": None, "archive": "x.zip", "kind": "image"}
    assert "upload it again" in try_open(zipped, "a.png")[1]
