"""Defects found walking the jobs as a user would (issue 22 item 4): what Runs and `jobs list` say a job ran on, the
lab's probe job seen by a tab that did not start it, and a lab job whose result this server no longer holds."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torchvision  # noqa: F401 - imported before the app's background model load, as a longer session has it
from PIL import Image

from components.session import JobFollow
from core.jobs import JobResult, JobsError, JobTable, runner
from core.provenance import Stopped
from tests.apptest import ok, open_app, plain, run_job, session
from tests.test_jobs import _waiting_work


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root holding ``shapes`` (two classes of small PNGs)."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        folder = tmp_path / "shapes" / cls
        folder.mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{cls}{i}.png")
    monkeypatch.setenv("PREPSCOPE_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("PREPSCOPE_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path


def test_a_folder_check_job_names_its_folder_not_an_upload(data_root: Path) -> None:
    at = open_app("pages/check.py")
    at.text_input(key="check_folder__widget").set_value("shapes").run()
    at.toggle(key="check_meta__widget").set_value(True).run()
    run_job(at, "check_run")
    ok(at)
    (job,) = JobTable().list(kind="check")
    assert job.status == "done", job.error
    assert Path(job.settings["dataset"]).name == "shapes"  # was "upload.zip", the request's default zip name
    assert job.what.startswith(job.settings["dataset"])


def test_a_running_probe_job_is_shown_on_the_lab_page_of_a_tab_without_the_gray_result(data_root: Path) -> None:
    started = threading.Event()
    r = runner()
    job = r.submit("sweep", {"experiment": "probe per gray rule", "rule": "gray1", "dataset": "shapes",
                             "follow": "ael_p"}, _waiting_work(started))
    assert started.wait(20)
    at = open_app("pages/autoencoder_lab.py")  # a reload, another tab, or Runs' Open: no gray result here
    ok(at)
    assert session(at).jobs["ael_p"].job_id == job
    assert at.button(key="ael_p_stop"), "the probe job is invisible on its page"
    assert "**Probe accuracy per rule**" in [m.value for m in at.markdown]  # headed: what the job is
    at.button(key="ael_p_stop").click().run()
    assert r.wait(job, 20).status == "stopped"
    at.run()
    ok(at)
    from components.autoencoder_lab import PROBE_STOPPED

    assert PROBE_STOPPED in [i.value for i in at.info]  # how it ended, shown on the page that follows it


def test_a_finished_lab_job_whose_result_is_not_held_here_says_where_it_is(
        data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys.modules["core.jobs.runner"], "KEEP_VALUES", 0)  # the result is not held
    r = runner()
    job = r.submit("training", {"experiment": "learned gray", "name": "gray1", "follow": "ael_g"},
                   lambda progress, should_stop: JobResult(object(), ref={"model": "gray1"},
                                                           message="Done in 1.0 s — learned:gray1 saved."))
    at = open_app("pages/autoencoder_lab.py")
    session(at).jobs["ael_g"] = JobFollow(job)  # the tab that started it, back after the job ended
    assert r.wait(job, 20).status == "done"
    at.run()
    ok(at)
    notes = [i.value for i in at.info]
    assert any(f"Job #{job}" in n and "Saved models" in n and "learned:gray1" in n for n in notes), notes


def _stops_at_42(progress, should_stop) -> JobResult:  # noqa: ANN001
    progress(0.4235, "4 of 9")
    raise Stopped("Stopped after 4 of 9.")


def _fails(progress, should_stop) -> JobResult:  # noqa: ANN001
    raise JobsError("bad.zip is not a zip.")


def test_the_runs_jobs_table_shows_whole_percents_and_a_failure_reads_as_one() -> None:
    from components.runs import jobs_frame

    r = runner()
    job = r.submit("sweep", {"dataset": "digits", "follow": "acc"}, _stops_at_42)
    assert r.wait(job, 20).status == "stopped"
    assert jobs_frame([r.table.get(job)])["progress"].tolist() == [0.42]  # shown as 42%, not 42.35%
    failed = r.submit("sweep", {"dataset": "bad.zip", "follow": "acc"}, _fails)
    assert r.wait(failed, 20).status == "failed"
    at = open_app("pages/runs.py")
    ok(at)
    assert f"Job #{failed} (sweep) failed: bad.zip is not a zip." in [c.value for c in at.caption]


@pytest.mark.parametrize(("key", "page"), [("ael_s", "pages/autoencoder_lab.py"), ("acc", "pages/accuracy.py")])
def test_a_job_a_restart_interrupted_is_shown_on_its_page_until_a_newer_one_starts(key: str, page: str) -> None:
    import socket

    table = JobTable()
    dead = f"{socket.gethostname()}:999999:x"  # the server that ran it has ended
    older = table.create("training", {"follow": key}, owner=dead)
    table.finish(older, "done", message="Done.")
    job = table.create("training", {"follow": key}, owner=dead)
    table.claim(job)
    other = table.create("check", {"follow": "check"}, owner=dead)
    table.claim(other)
    at = open_app(page)  # the tab, reconnected to the restarted server, or a reload
    ok(at)
    assert table.get(job).status == "interrupted"
    shown = [w.value for w in at.warning]
    assert any("Interrupted: the server that ran this job" in w for w in shown), shown  # was: nothing at all
    assert session(at).jobs[key].job_id == job and "check" not in session(at).jobs
    at.run()
    assert any("Interrupted: the server that ran this job" in w.value for w in at.warning)  # stays, no repeat
    newer = table.create("training", {"follow": key}, owner=dead)
    table.finish(newer, "done", message="Done.")
    fresh = open_app(page)  # a newer job of that page has run since: the interruption is old news
    ok(fresh)
    assert key not in session(fresh).jobs


def test_cli_stop_takes_the_id_as_jobs_list_prints_it(capsys: pytest.CaptureFixture) -> None:
    import os
    import socket

    from core.cli import main

    table = JobTable()
    queued = table.create("sweep", {}, owner=f"{socket.gethostname()}:{os.getpid()}:{'z' * 8}")
    assert main(["jobs", "stop", f"#{queued}"]) == 0  # `jobs list` shows "#1"
    assert "was queued: stopped, nothing ran" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["jobs", "stop", "abc"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("'abc' is not a job id: give the number `python -m core jobs list` shows (#3 or 3)."), err


def test_a_sweep_the_page_already_refuses_is_not_queued_as_a_job(data_root: Path) -> None:
    from components.accuracy import SOURCES

    at = open_app("pages/accuracy.py")
    at.radio(key="acc_source").set_value(SOURCES[1]).run()
    at.selectbox(key="acc_folder").set_value("shapes").run()
    at.text_input(key="acc_pattern").set_value("(?P<label").run()
    refusal = "The label pattern '(?P<label' is not a valid regular expression"
    assert any(plain(e.value).startswith(refusal) for e in at.error), [e.value for e in at.error]
    at.button(key="acc_run").click().run()
    ok(at)
    assert JobTable().list() == []  # was: a job queued behind any running one, failing only when its turn came
    assert any(plain(e.value).startswith("Not started: " + refusal) for e in at.error), [e.value for e in at.error]


def test_a_queued_jobs_line_counts_down_as_the_jobs_ahead_of_it_end(tmp_path: Path) -> None:
    from core.jobs import JobRunner
    from core.runs.store import RunStore
    from tests.test_jobs import _blocking

    r = JobRunner(RunStore(tmp_path / "runs.sqlite"), workers=1, interval_s=0.0, poll_s=0.0)
    log: list[str] = []
    events = {n: (threading.Event(), threading.Event()) for n in "abc"}
    a, b, c = (r.submit("sweep", {"n": n}, _blocking(*events[n], log, n)) for n in "abc")
    assert events["a"][0].wait(10)
    assert r.table.get(c).message.startswith("Queued: 2 job(s) ahead")
    events["a"][1].set()
    assert events["b"][0].wait(10)
    assert r.table.get(c).message.startswith("Queued: 1 job(s) ahead"), r.table.get(c).message  # was: still 2
    for n in "bc":
        events[n][1].set()
    assert r.wait(c, 20).status == "done"


def test_a_lab_training_under_a_name_already_taken_is_refused_before_it_is_queued() -> None:
    from core.learned import store

    weights, card = store.paths("gray1")
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"x")
    card.write_text("{}", encoding="utf-8")
    at = open_app("pages/autoencoder_lab.py")
    assert at.text_input(key="ael_g_name__widget").value == "gray1"
    at.button(key="ael_g_train").click().run()
    ok(at)
    assert JobTable().list() == []  # was: queued, then failed when its turn came
    assert any(plain(e.value).startswith("Not started: A model named 'gray1' already exists")
               for e in at.error), [e.value for e in at.error]
    at.checkbox(key="ael_g_overwrite").check().run()
    at.button(key="ael_g_train").click().run()
    assert len(JobTable().list()) == 1  # overwriting it is asked for: the training is queued
    for job in JobTable().list():
        runner().stop(job.id)
        runner().wait(job.id, 120)
