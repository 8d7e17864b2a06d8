"""Shared-server mode (core.shared): the bound on heavy work with its queue message, audit lines for runs,
trainings and deletions, no server paths, and items outside the data root listed by name only."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from core import shared
from core.evaluate.evidence import unavailable_reason
from core.provenance import Stopped
from core.runs import RunsError


@pytest.fixture
def shared_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PREPSCOPE_SHARED", "1")
    monkeypatch.delenv("PREPSCOPE_MAX_HEAVY", raising=False)
    root = tmp_path / "data"
    (root / "photos").mkdir(parents=True)
    monkeypatch.setenv("PREPSCOPE_DATA_ROOT", str(root))
    return root


def test_off_by_default_and_unbounded_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREPSCOPE_SHARED", raising=False)
    monkeypatch.delenv("PREPSCOPE_MAX_HEAVY", raising=False)
    assert not shared.shared_mode() and shared.max_heavy() is None
    assert shared.public_path("/srv/secret/runs.sqlite") == "/srv/secret/runs.sqlite"
    monkeypatch.setenv("PREPSCOPE_MAX_HEAVY", "2")
    assert shared.max_heavy() == 2


def test_a_second_heavy_job_waits_with_a_message_and_can_stop_while_waiting(shared_server: Path) -> None:
    assert shared.max_heavy() == 1
    started, release, told, order = threading.Event(), threading.Event(), [], []

    def first() -> None:
        with shared.heavy_work("sweep"):
            order.append("first in")
            started.set()
            release.wait(10)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    started.wait(10)
    with pytest.raises(Stopped, match="while waiting for another sweep"):
        with shared.heavy_work("training", should_stop=lambda: True):
            order.append("never")
    threading.Timer(0.8, release.set).start()
    t0 = time.monotonic()
    with shared.heavy_work("training", on_wait=told.append):
        order.append("second in")
    t.join(10)
    assert order == ["first in", "first out", "second in"] and time.monotonic() - t0 >= 0.5
    assert told == ["Waiting for another sweep to finish (this server runs at most 1 sweep or training at a "
                    "time)…"]
    assert shared.running_heavy() == []


def test_audit_lines_name_the_actor_for_runs_trainings_and_deletions(shared_server: Path, tmp_path: Path, model,
                                                                     caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    from core.runs import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    store.list()
    shared.AUDIT.addHandler(caplog.handler)  # what the server log gets
    shared.AUDIT.setLevel(logging.INFO)
    try:
        with shared.acting_as("visitor session=abcd ip=10.0.0.2"), shared.heavy_work("training", what="x"):
            pass
        with pytest.raises(RunsError, match="no run #7"):
            store.delete(7)  # a refused deletion deletes nothing and is not logged as one
        store.delete(_record_one(store, model, tmp_path / "cache"))
    finally:
        shared.AUDIT.removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "prepscope.audit"]
    assert lines == ["training started by visitor session=abcd ip=10.0.0.2: what='x'",
                     "training finished by visitor session=abcd ip=10.0.0.2: what='x'",
                     lines[2], f"run deleted by {shared.actor()}: run=1 database={str(store.path)!r}"]
    assert lines[2].startswith("run recorded by cli user=") and "run=1 origin='test'" in lines[2]


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


def test_the_page_status_says_it_waits_then_runs(shared_server: Path) -> None:
    from components.shared import heavy

    class Status:  # stands in for st.status: records its labels
        def __init__(self) -> None:
            self.labels: list[tuple[str, str]] = []

        def update(self, *, label: str, state: str) -> None:
            self.labels.append((label, state))

    started, release = threading.Event(), threading.Event()

    def other_visitor() -> None:
        with shared.heavy_work("sweep"):
            started.set()
            release.wait(10)

    t = threading.Thread(target=other_visitor)
    t.start()
    started.wait(10)
    threading.Timer(0.6, release.set).start()
    status = Status()
    with heavy("training", status, lambda: False):
        ran = True
    t.join(10)
    assert ran and [label for label, _ in status.labels] == [
        "Waiting for another sweep to finish (this server runs at most 1 sweep or training at a time)…",
        "Running the training…"]
