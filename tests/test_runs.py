"""The runs database: exact round trip, two processes writing at once, refused schemas, the `runs` command."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.__main__ import main
from core.evaluate.datasets import builtin_digits
from core.evaluate.sweep import SweepResult, evaluate_sweep
from core.preprocess.variant import Resize, Variant, VariantSet
from core.runs import SCHEMA_VERSION, RunsError, RunStore, default_path
from tests.conftest import ROOT
from tests.test_evaluate_sweep import _count_forwards

PAIR = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
        Variant(name="viridis", resize=Resize(size=32), channels="colormap", colormap="viridis"),
        Variant(name="conv-sum", resize=Resize(size=32), channels="conv-sum")]


@pytest.fixture(scope="module")
def result(model, tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    ds = builtin_digits().sample_per_class(5, seed=1)
    return evaluate_sweep(ds, PAIR, model, cv=5, cache_dir=tmp_path_factory.mktemp("cache"))


def test_default_path_follows_prepscope_home(_isolated_home: Path) -> None:
    assert default_path() == _isolated_home / "runs.sqlite"
    assert RunStore().path == _isolated_home / "runs.sqlite"


def test_a_run_round_trips_exactly(result: SweepResult, tmp_path: Path, model,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.record(result, origin="cli")
    assert rid == 1 and result.run_id == 1
    calls = _count_forwards(model, monkeypatch)
    loaded = store.load(rid)
    assert calls[0] == 0  # opening a past run computes nothing
    assert loaded.to_dict() == result.to_dict()  # numbers, per-item rows, provenance: all equal
    a, b = loaded.variants[1], result.variants[1]
    assert (a.predicted == b.predicted).all() and (a.confidence == b.confidence).all()
    assert a.confidence.dtype == b.confidence.dtype and a.fold_test_p == b.fold_test_p
    assert loaded.items == result.items and loaded.folds == result.folds
    assert loaded.provenance["dataset"]["train"]["digest"] == result.provenance["dataset"]["train"]["digest"]
    assert loaded.identical == result.identical == [{"variants": ["gray", "conv-sum"],
                                                     "reason": result.identical[0]["reason"]}]
    assert loaded.provenance_line().endswith("run #1")

    summary = store.list()[0]
    assert (summary.id, summary.origin, summary.model, summary.method) == (1, "cli", "efficientnet_lite0", "probe")
    assert summary.evaluation == "stratified-kfold" and summary.n_folds == 5 and summary.n_test == 50
    assert summary.reference == "gray" and summary.reference_accuracy == result.variants[0].accuracy
    assert max(v.accuracy for v in result.variants) == summary.best_accuracy
    assert store.list(dataset="digits") and not store.list(dataset="fsdd") and not store.list(method="zeroshot")
    assert store.list(dataset=summary.dataset_digest[:6])
    store.delete(rid)
    assert store.list() == []
    with pytest.raises(RunsError, match="no run #1"):
        store.load(rid)
    with sqlite3.connect(store.path) as con:  # nothing of the run is left behind
        for table in ("runs", "variant_results", "items", "predictions"):
            assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


_WRITER = """
import json, sys
from core.evaluate.sweep import SweepResult
from core.runs import RunStore
data = json.load(open(sys.argv[1]))
store = RunStore(sys.argv[2])
ids = [store.record(SweepResult.from_dict(data), origin=sys.argv[3]) for _ in range(int(sys.argv[4]))]
print(json.dumps(ids))
"""


@pytest.mark.slow
def test_two_processes_writing_at_once(result: SweepResult, tmp_path: Path) -> None:
    src = tmp_path / "result.json"
    src.write_text(json.dumps(result.to_dict()))
    db = tmp_path / "shared.sqlite"  # created by the racing writers themselves
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(src), str(db), name, "20"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    ids = [i for out, _ in outs for i in json.loads(out)]
    assert sorted(ids) == list(range(1, 41))
    store = RunStore(db)
    runs = store.list(limit=100)
    assert len(runs) == 40 and {r.origin for r in runs} == {"a", "b"}
    expected = result.to_dict()
    for rid in (ids[0], ids[-1]):
        got = store.load_dict(rid)
        assert {**got, "run_id": None} == {**expected, "run_id": None}
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_foreign_and_non_sqlite_files_are_refused_untouched(result: SweepResult, tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite"
    RunStore(newer).list()
    with sqlite3.connect(newer) as con:
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RunsError, match=f"schema version {SCHEMA_VERSION + 1}, written by a newer prepscope"):
        RunStore(newer).record(result, origin="cli")

    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE photos (id INTEGER)")
    before = foreign.read_bytes()
    with pytest.raises(RunsError, match="not a prepscope runs database .*photos"):
        RunStore(foreign).list()
    assert foreign.read_bytes() == before

    marked_wrong = tmp_path / "other-app.sqlite"
    with sqlite3.connect(marked_wrong) as con:
        con.execute("PRAGMA user_version = 1")
    with pytest.raises(RunsError, match="without the prepscope marker"):
        RunStore(marked_wrong).list()

    text = tmp_path / "notes.sqlite"
    text.write_text("these are my notes, not a database\n" * 40)
    with pytest.raises(RunsError, match="not a prepscope runs database"):
        RunStore(text).list()
    assert text.read_text().startswith("these are my notes")


@pytest.mark.slow
def test_sweep_json_carries_the_run_id_and_runs_show_writes_the_same(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    vfile = tmp_path / "v.json"
    vfile.write_text(VariantSet.of(PAIR[:2]).to_json(indent=2))
    out = tmp_path / "sweep.json"
    rc = main(["sweep", "--builtin", "digits", "--variants", str(vfile), "--max-per-class", "5", "--cv", "5",
               "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--items-csv", str(tmp_path / "i.csv"),
               "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "per-fold accuracy:" in text and "fold 5 (n=10)" in text and "recorded as run #1" in text
    assert "(ref)" in text and "None" not in text
    data = json.loads(out.read_text())
    assert data["run_id"] == 1 and data["folds"][0]["name"] == "fold 1" and data["variants"][1]["folds"]
    assert any("5 folds" in n for n in data["notes"])
    assert len((tmp_path / "i.csv").read_text().splitlines()) == 1 + 2 * 50

    shown = tmp_path / "shown.json"
    assert main(["runs", "show", "1", "--json", str(shown)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("run #1, recorded ") and "per-fold accuracy:" in printed
    assert json.loads(shown.read_text()) == data

    assert main(["runs", "list", "--method", "probe"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[2].startswith("#1 ") and "stratified-kfold x5" in listing[2] and len(listing) == 3
    assert main(["runs", "list", "--model", "resnet18"]) == 0
    assert "match the filters" in capsys.readouterr().out
    assert main(["runs", "delete", "1"]) == 0
    capsys.readouterr()
    assert main(["runs", "show", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: There is no run #1")


def test_an_unusable_database_does_not_lose_the_sweep(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       _isolated_home: Path) -> None:
    (_isolated_home / "runs.sqlite").write_text("not sqlite")
    vfile = tmp_path / "v.json"
    vfile.write_text(VariantSet.of(PAIR[:1]).to_json(indent=2))
    out = tmp_path / "o.json"
    rc = main(["sweep", "--builtin", "digits", "--variants", str(vfile), "--max-per-class", "3",
               "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0 and "warning: the run was not recorded" in captured.err
    assert json.loads(out.read_text())["run_id"] is None and "gray (ref)" in captured.out


def test_a_version_1_database_is_migrated_and_its_runs_read_back_unchanged(result: SweepResult,
                                                                          tmp_path: Path) -> None:
    from core.runs.store import MIGRATIONS, VARIANT_COLUMNS

    # a database as the first schema wrote it: copy a recorded run into tables made by migration 0 only
    new = tmp_path / "new.sqlite"
    RunStore(new).record(result, origin="cli")
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as con:
        for statement in MIGRATIONS[0]:
            con.execute(statement)
        con.execute("PRAGMA user_version = 1")
        con.execute("ATTACH DATABASE ? AS src", (str(new),))
        for table in ("runs", "items", "predictions"):
            con.execute(f"INSERT INTO {table} SELECT * FROM src.{table}")
        v1 = ", ".join(c for c in VARIANT_COLUMNS if c != "adapted_json")
        con.execute(f"INSERT INTO variant_results ({v1}) SELECT {v1} FROM src.variant_results")
    con.close()
    assert SCHEMA_VERSION == 4  # 4: the jobs table (core.jobs)
    store = RunStore(old)
    assert store.load(1).to_dict() == {**result.to_dict(), "run_id": 1}  # migrated, the run unchanged
    with sqlite3.connect(old) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "adapted_json" in [r[1] for r in con.execute("PRAGMA table_info(variant_results)")]
    con.close()


def test_an_empty_file_is_refused_untouched_and_a_new_database_appears_whole(capsys: pytest.CaptureFixture,
                                                                             _isolated_home: Path) -> None:
    empty = _isolated_home / "runs.sqlite"
    empty.touch()
    assert main(["runs", "list"]) == 2
    err = capsys.readouterr().err
    assert "not a prepscope runs database" in err and "empty" in err and "Traceback" not in err
    assert empty.stat().st_size == 0  # no schema written into someone's file
    empty.unlink()
    assert main(["runs", "list"]) == 0 and "no recorded runs" in capsys.readouterr().out
    assert empty.stat().st_size > 0  # created whole (migrated), never left as an empty file
    assert not [p.name for p in _isolated_home.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
