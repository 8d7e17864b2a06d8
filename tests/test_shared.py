"""Shared-server mode (core.shared): the bound on concurrent jobs with its queue message, audit lines for jobs,
runs and deletions, no server paths, and items outside the data root listed by name only."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from core import shared
from core.evaluate.evidence import unavailable_reason
from core.runs import RunsError


@pytest.fixture
def shared_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PREPSCOPE_SHARED", "1")
    monkeypatch.delenv("PREPSCOPE_MAX_HEAVY", raising=False)
    monkeypatch.delenv("PREPSCOPE_MAX_JOBS", raising=False)
    root = tmp_path / "data"
    (root / "photos").mkdir(parents=True)
    monkeypatch.setenv("PREPSCOPE_DATA_ROOT", str(root))
    return root


def test_off_by_default_and_one_job_at_a_time_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREPSCOPE_SHARED", raising=False)
    monkeypatch.delenv("PREPSCOPE_MAX_HEAVY", raising=False)
    monkeypatch.delenv("PREPSCOPE_MAX_JOBS", raising=False)
    assert not shared.shared_mode() and shared.max_jobs() == 1
    assert shared.public_path("/srv/secret/runs.sqlite") == "/srv/secret/runs.sqlite"
    monkeypatch.setenv("PREPSCOPE_MAX_HEAVY", "2")  # the older name of the same bound
    assert shared.max_jobs() == 2
    monkeypatch.setenv("PREPSCOPE_MAX_JOBS", "3")
    assert shared.max_jobs() == 3
    monkeypatch.setenv("PREPSCOPE_MAX_JOBS", "0")  # not a positive integer: the next setting counts
    assert shared.max_jobs() == 2


def test_a_second_job_waits_in_the_queue_with_a_message_and_can_stop_while_queued(shared_server: Path,
                                                                                   tmp_path: Path) -> None:
    from core.jobs import JobResult, JobRunner
    from core.runs import RunStore

    runner = JobRunner(RunStore(tmp_path / "runs.sqlite"), poll_s=0.05)
    assert runner.workers == 1
    started, release, order = threading.Event(), threading.Event(), []

    def first(progress, should_stop) -> JobResult:  # noqa: ANN001
        order.append("first in")
        started.set()
        release.wait(10)
        order.append("first out")
        return JobResult(None)

    def second(progress, should_stop) -> JobResult:  # noqa: ANN001
        order.append("second in")
        return JobResult(None)

    a = runner.submit("sweep", {}, first)
    started.wait(10)
    never = runner.submit("training", {}, lambda progress, should_stop: order.append("never"))
    b = runner.submit("training", {}, second)
    assert runner.table.get(b).message == ("Queued: 2 job(s) ahead; this server runs at most 1 at a time "
                                           "(PREPSCOPE_MAX_JOBS).")
    assert runner.stop(never).status == "stopped"
    threading.Timer(0.5, release.set).start()
    assert runner.wait(b, 10).status == "done" and runner.wait(a, 10).status == "done"
    assert order == ["first in", "first out", "second in"]
    assert runner.table.get(never).message == "Stopped while queued; nothing ran."


def test_audit_lines_name_the_actor_for_jobs_runs_and_deletions(shared_server: Path, tmp_path: Path, model,
                                                                caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    from core.jobs import JobResult, JobRunner
    from core.runs import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    store.list()
    shared.AUDIT.addHandler(caplog.handler)  # what the server log gets
    shared.AUDIT.setLevel(logging.INFO)
    try:
        runner = JobRunner(store)
        job = runner.submit("training", {}, lambda progress, should_stop: JobResult(None),
                            actor="visitor session=abcd ip=10.0.0.2", audit_fields={"what": "x"})
        assert runner.wait(job, 10).status == "done"
        with pytest.raises(RunsError, match="no run #7"):
            store.delete(7)  # a refused deletion deletes nothing and is not logged as one
        store.delete(_record_one(store, model, tmp_path / "cache"))
    finally:
        shared.AUDIT.removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "prepscope.audit"]
    assert lines == [f"training queued by visitor session=abcd ip=10.0.0.2: job={job} what='x'",
                     f"training started by visitor session=abcd ip=10.0.0.2: job={job} what='x'",
                     f"training finished by visitor session=abcd ip=10.0.0.2: job={job} what='x'",
                     lines[3], f"run deleted by {shared.actor()}: run=1 database={str(store.path)!r}"]
    assert lines[3].startswith("run recorded by cli user=") and "run=1 origin='test'" in lines[3]


def _record_one(store, model, cache: Path) -> int:  # noqa: ANN001
    from core.evaluate.datasets import builtin_digits
    from core.evaluate.sweep import evaluate_sweep
    from core.preprocess.variant import Resize, Variant

    ds = builtin_digits().sample_per_class(2, seed=0)
    result = evaluate_sweep(ds, [Variant(name="gray", resize=Resize(size=32), channels="replicate")], model,
                            cv=2, cache_dir=cache, batch_size=16)
    return store.record(result, origin="test")


def test_no_server_paths_and_items_outside_the_data_root_by_name_only(shared_server: Path, tmp_path: Path) -> None:
    assert shared.public_path(shared_server / "photos") == "data root/photos"
    assert shared.public_path("/srv/secret/home/runs.sqlite") == "…/runs.sqlite"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    reason = unavailable_reason({"source": str(outside), "root": str(outside)})
    assert reason is not None and "listed by name only" in reason and str(tmp_path) not in reason
    assert unavailable_reason({"source": str(shared_server / "photos"), "root": str(shared_server / "photos")}) is None
    link = shared_server / "escape"
    link.symlink_to(outside)  # a link inside the root that leads out of it is outside
    assert unavailable_reason({"source": str(link), "root": str(link)}) is not None


def test_downloads_carry_no_server_paths_in_shared_mode(shared_server: Path, monkeypatch: pytest.MonkeyPatch,
                                                        model, tmp_path: Path) -> None:
    """A sweep's JSON names the dataset relative to the data root in shared mode (its real path on a laptop); a path
    outside the root keeps only its last part, in JSON and CSV downloads alike."""
    import numpy as np
    from PIL import Image

    from core.evaluate.datasets import open_dataset
    from core.evaluate.sweep import evaluate_sweep
    from core.preprocess.variant import Resize, Variant

    rng = np.random.default_rng(0)
    for label in ("ants", "bees"):
        (shared_server / "photos" / label).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(
                shared_server / "photos" / label / f"{i}.png")
    with open_dataset(shared_server / "photos") as src:
        ds = src.train
    result = evaluate_sweep(ds, [Variant(name="rgb", resize=Resize(size=32))], model, cache_dir=tmp_path / "cache",
                            batch_size=4, cv="none", test_fraction=0.5)
    secret = str(tmp_path)
    text, items = shared.public_json(result.to_dict()), shared.public_csv(result.items_csv())
    assert secret not in text and secret not in items
    assert '"root": "data root/photos"' in text and '"source": "data root/photos"' in text
    assert ",ants/0.png," in items  # item paths are relative to the dataset already
    assert shared.public_document({"model": "/srv/secret/x.safetensors", "n": 3}) == {"model": "…/x.safetensors",
                                                                                      "n": 3}
    monkeypatch.delenv("PREPSCOPE_SHARED")
    assert secret in shared.public_json(result.to_dict())
    assert shared.public_csv("a,/srv/x/y.png\n") == "a,/srv/x/y.png\n"
    monkeypatch.setenv("PREPSCOPE_SHARED", "1")
    assert shared.public_csv("a,/srv/x/y.png\n") == "a,…/y.png\n"
