"""Jobs (core.jobs): the jobs table of the runs database (schema 4, migrated from a version-3 file), the runner's
queue order and bound, stopping through the database flag from another connection, a failing job's error, and
jobs a dead server left behind marked interrupted."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from core.jobs import JobResult, JobRunner, JobsError, JobTable
from core.jobs.table import owner_alive
from core.provenance import Stopped
from core.runs.store import MIGRATIONS, SCHEMA_VERSION, RunStore, list_checks


def _store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _blocking(started: threading.Event, release: threading.Event, log: list, name: str):  # noqa: ANN202
    def work(progress, should_stop) -> JobResult:  # noqa: ANN001
        log.append(f"{name} in")
        started.set()
        while not release.is_set():
            if should_stop():
                log.append(f"{name} stopped")
                raise Stopped(f"Stopped: {name} was stopped.")
            time.sleep(0.02)
        log.append(f"{name} out")
        return JobResult(value=name, ref={"name": name}, message=f"{name} done")

    return work


def test_a_version_3_database_gains_the_jobs_table_and_keeps_its_checks(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    con = sqlite3.connect(path)
    for step in MIGRATIONS[:3]:
        for statement in step:
            con.execute(statement)
    con.execute("INSERT INTO checks (created_utc, origin, dataset_name, dataset_source, dataset_digest, dataset_kind, "
                "n_items, model, seconds, kinds_json, report_json) VALUES ('2026-01-01T00:00:00+00:00', 'cli', 'd', "
                "'s', 'x', 'image', 3, 'm', 1.0, '{}', '{}')")
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    assert SCHEMA_VERSION == 4
    table = JobTable(RunStore(path))
    assert table.list() == []
    job_id = table.create("sweep", {"engine": "in-process"}, owner="h:1:a")
    assert table.get(job_id).status == "queued" and table.get(job_id).settings == {"engine": "in-process"}
    assert [c.id for c in list_checks(RunStore(path))] == [1]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 4
    con.close()


def test_queue_order_and_the_bound_on_running_jobs(tmp_path: Path) -> None:
    runner = JobRunner(_store(tmp_path), workers=1, interval_s=0.0, poll_s=0.0)
    log: list[str] = []
    events = {n: (threading.Event(), threading.Event()) for n in "abc"}
    ids = [runner.submit("sweep", {"n": n}, _blocking(*events[n], log, n)) for n in "abc"]
    events["a"][0].wait(10)
    time.sleep(0.2)
    jobs = {j.id: j for j in runner.table.list()}
    assert [jobs[i].status for i in ids] == ["running", "queued", "queued"]  # one at a time: the bound
    assert "at most 1 at a time" in jobs[ids[2]].message
    for n in "abc":
        events[n][1].set()
    for i in ids:
        assert runner.wait(i, 20).status == "done"
    assert log == ["a in", "a out", "b in", "b out", "c in", "c out"]  # first in, first out
    assert runner.value(ids[1]) == "b" and runner.table.get(ids[1]).result == {"name": "b"}
    assert runner.table.get(ids[1]).message == "b done" and runner.table.get(ids[1]).progress == 1.0


def test_two_workers_run_two_jobs_at_once(tmp_path: Path) -> None:
    runner = JobRunner(_store(tmp_path), workers=2, interval_s=0.0, poll_s=0.0)
    log: list[str] = []
    events = {n: (threading.Event(), threading.Event()) for n in "ab"}
    ids = [runner.submit("sweep", {}, _blocking(*events[n], log, n)) for n in "ab"]
    assert events["a"][0].wait(10) and events["b"][0].wait(10)
    assert {runner.table.get(i).status for i in ids} == {"running"}
    for n in "ab":
        events[n][1].set()
    assert {runner.wait(i, 20).status for i in ids} == {"done"}


def test_stop_through_the_database_flag_from_another_connection(tmp_path: Path) -> None:
    runner = JobRunner(_store(tmp_path), workers=1, interval_s=0.0, poll_s=0.05)
    log: list[str] = []
    started, release = threading.Event(), threading.Event()
    running = runner.submit("sweep", {}, _blocking(started, release, log, "a"))
    queued = runner.submit("check", {}, _blocking(threading.Event(), threading.Event(), log, "b"))
    started.wait(10)
    other = JobTable(_store(tmp_path))  # another process's view: only the database is shared
    assert other.request_stop(queued).status == "stopped"  # a queued job stops at once, nothing runs
    other.request_stop(running)
    job = runner.wait(running, 10)
    assert job.status == "stopped" and job.message == "Stopped: a was stopped." and job.ended_utc
    assert runner.wait(queued, 10).status == "stopped"
    time.sleep(0.2)
    assert log == ["a in", "a stopped"]
    with pytest.raises(JobsError, match="has already ended \\(stopped\\); there is nothing to stop"):
        other.request_stop(running)
    with pytest.raises(JobsError, match="There is no job #99"):
        other.request_stop(99)


def test_a_failing_job_records_its_error_and_the_next_one_still_runs(tmp_path: Path) -> None:
    from core.errors import UnsupportedInput

    runner = JobRunner(_store(tmp_path), workers=1, interval_s=0.0)

    def refused(progress, should_stop) -> JobResult:  # noqa: ANN001
        raise UnsupportedInput("The zip holds no images; upload a zip of PNG or JPEG files.")

    def broken(progress, should_stop) -> JobResult:  # noqa: ANN001
        raise RuntimeError("boom")

    a = runner.submit("check", {}, refused)
    b = runner.submit("sweep", {}, broken)
    c = runner.submit("sweep", {}, lambda progress, should_stop: JobResult(value=1, message="ok"))
    ja, jb, jc = (runner.wait(i, 10) for i in (a, b, c))
    assert ja.status == "failed" and ja.error == "The zip holds no images; upload a zip of PNG or JPEG files."
    assert jb.status == "failed" and "RuntimeError: boom" in jb.error and "server's log" in jb.error
    assert jc.status == "done" and jc.error is None


def test_progress_is_written_at_most_twice_a_second(tmp_path: Path) -> None:
    store = _store(tmp_path)
    runner = JobRunner(store, workers=1, interval_s=0.5)
    writes = []
    real = runner.table.report

    def counting(job_id: int, fraction: float, message: str) -> bool:
        writes.append((fraction, message))
        return real(job_id, fraction, message)

    runner.table.report = counting
    seen = []

    def work(progress, should_stop) -> JobResult:  # noqa: ANN001
        for i in range(120):
            progress(i / 120, f"item {i}")
            if i == 60:
                time.sleep(0.05)
                seen.append(JobTable(store).get(job_id).progress)
            time.sleep(0.01)
        return JobResult(value=None)

    job_id = runner.submit("sweep", {}, work)
    assert runner.wait(job_id, 20).status == "done"
    assert 1 <= len(writes) <= 5  # ~1.3 s of work: at most 2 writes a second, not 120
    assert seen and 0.0 <= seen[0] < 0.55


def test_jobs_a_dead_server_left_are_marked_interrupted_on_start(tmp_path: Path) -> None:
    store = _store(tmp_path)
    table = JobTable(store)
    dead = "nowhere-host:1:x"
    dead_here = f"{__import__('socket').gethostname()}:999999:x"
    ours_before = f"{__import__('socket').gethostname()}:{__import__('os').getpid()}:old"
    live_other = f"{__import__('socket').gethostname()}:{__import__('os').getppid()}:y"
    a = table.create("sweep", {}, owner=dead_here)
    table.claim(a)
    b = table.create("check", {}, owner=dead_here)
    c = table.create("sweep", {}, owner=dead)  # another host: unknown, left alone
    d = table.create("sweep", {}, owner=live_other)  # another live server on this host: left alone
    e = table.create("training", {}, owner=ours_before)  # an earlier runner of this very process
    f = table.create("sweep", {}, owner=dead_here)
    table.finish(f, "done", message="Done.")
    assert owner_alive(dead_here) is False and owner_alive(dead) is None and owner_alive(live_other) is True
    runner = JobRunner(store, workers=1)
    assert sorted(runner.interrupted) == [a, b, e]
    for i in (a, b, e):
        job = table.get(i)
        assert job.status == "interrupted" and job.ended_utc and job.message.startswith("Interrupted: the server")
        assert job.error == job.message
    assert [table.get(i).status for i in (c, d, f)] == ["queued", "queued", "done"]


def test_cli_lists_jobs_as_a_table_and_json_and_marks_a_dead_servers_jobs(capsys: pytest.CaptureFixture) -> None:
    import json
    import socket

    from core.cli import main

    assert main(["jobs", "list"]) == 0
    assert capsys.readouterr().out.startswith("no jobs in ")
    table = JobTable()
    done = table.create("check", {"dataset": "digits"}, owner="h:1:a")
    table.claim(done)
    table.finish(done, "done", message="Done in 1.0 s — check #1.", result={"check": 1})
    left = table.create("sweep", {"dataset": "digits", "method": "probe", "models": ["m"]},
                        owner=f"{socket.gethostname()}:999999:x")
    table.claim(left)
    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["id", "kind", "status", "progress", "created", "(UTC)", "seconds", "what", "message"]
    assert out[2].split()[:3] == [f"#{left}", "sweep", "interrupted"] and "digits · probe · m" in out[2]
    assert out[3].split()[:4] == [f"#{done}", "check", "done", "100%"]
    assert main(["jobs", "list", "--json", "--status", "done"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(j["id"], j["status"], j["result"]) for j in data] == [(done, "done", {"check": 1})]
    assert set(data[0]) >= {"kind", "settings", "progress", "message", "created_utc", "started_utc", "ended_utc",
                            "error", "owner", "stop_requested"}


def test_cli_stops_a_job_and_refuses_unknown_and_ended_ones(capsys: pytest.CaptureFixture) -> None:
    import os
    import socket

    from core.cli import main

    table = JobTable()
    live = f"{socket.gethostname()}:{os.getpid()}:{'z' * 8}"  # a live server (this process) runs it
    running = table.create("sweep", {}, owner=live)
    table.claim(running)
    queued = table.create("training", {}, owner=live)
    assert main(["jobs", "stop", str(running)]) == 0
    assert "asked to stop" in capsys.readouterr().out
    assert table.get(running).stop_requested and table.get(running).status == "running"
    assert main(["jobs", "stop", str(queued)]) == 0
    assert "was queued: stopped, nothing ran" in capsys.readouterr().out
    assert table.get(queued).status == "stopped"
    assert main(["jobs", "stop", "42"]) == 2
    assert capsys.readouterr().err.startswith("error: There is no job #42 in ")
    assert main(["jobs", "stop", str(queued)]) == 2
    assert capsys.readouterr().err == (f"error: Job #{queued} has already ended (stopped); there is nothing to "
                                       "stop.\n")


def _waiting_work(started: threading.Event):  # noqa: ANN202
    def work(progress, should_stop) -> JobResult:  # noqa: ANN001
        progress(0.25, "a quarter done")
        started.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if should_stop():
                raise Stopped("Stopped after 1 of 4 parts; nothing was kept.")
            time.sleep(0.02)
        return JobResult(None)

    return work


def test_the_runs_page_lists_a_running_job_stops_it_and_opens_one_on_its_page() -> None:
    import torchvision  # noqa: F401 - imported before the app's background model load, as a longer session has it

    from core.jobs import runner
    from tests.apptest import open_app, session

    started = threading.Event()
    r = runner()
    job = r.submit("sweep", {"follow": "acc", "dataset": "digits", "method": "probe", "models": ["m"]},
                   _waiting_work(started))
    assert started.wait(20)
    time.sleep(0.1)
    at = open_app("pages/runs.py")
    assert not at.exception, at.exception
    frame = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert frame[["job", "kind", "what", "status", "progress"]].values.tolist() == [
        [f"#{job}", "sweep", "digits · probe · m", "running", 0.25]]
    assert f"Job #{job} (sweep) is running: a quarter done" in [c.value for c in at.caption]
    at.button(key="runs_job_stop").click().run()
    assert r.wait(job, 20).status == "stopped"
    at.run()
    assert f"Job #{job} (sweep) is stopped: Stopped after 1 of 4 parts; nothing was kept." in [c.value for c in
                                                                                               at.caption]
    # a job running for anyone is found by a tab that did not start it, and opened on its page from Runs
    started.clear()
    second = r.submit("sweep", {"follow": "acc", "dataset": "digits"}, _waiting_work(started))
    assert started.wait(20)
    other = open_app("pages/accuracy.py")
    assert session(other).jobs["acc"].job_id == second and other.button(key="acc_stop")
    at.run()
    at.selectbox(key="runs_job_pick").set_value(second).run()
    at.button(key="runs_job_open").click().run()
    assert not at.exception, at.exception
    assert session(at).jobs["acc"].job_id == second and at.button(key="acc_stop")
    at.button(key="acc_stop").click().run()  # Stop on the page: the stop's notice once the job has ended
    assert r.wait(second, 20).status == "stopped"
    at.switch_page("pages/accuracy.py").run()  # AppTest's next run would redraw Runs; a browser stays on Accuracy
    from components.accuracy import STOPPED_NOTICE

    assert session(at).accuracy_notice == STOPPED_NOTICE and STOPPED_NOTICE in [w.value for w in at.warning]


def test_a_shared_server_refuses_stopping_another_visitors_job(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision  # noqa: F401 - imported before the app's background model load, as a longer session has it

    from core.jobs import runner
    from tests.apptest import open_app

    started = threading.Event()
    r = runner()
    job = r.submit("sweep", {"follow": "acc", "dataset": "digits"}, _waiting_work(started),
                   actor="visitor session=someone ip=10.0.0.9")
    assert started.wait(20)
    at = open_app("pages/runs.py")
    assert not at.button(key="runs_job_stop").disabled  # a laptop: anyone may stop it
    monkeypatch.setenv("PREPSCOPE_SHARED", "1")
    at.run()
    assert at.button(key="runs_job_stop").disabled
    assert any("stopping another visitor's job is not possible from the dashboard" in c.value for c in at.caption)
    other = open_app("pages/accuracy.py")
    assert other.button(key="acc_stop").disabled
    assert r.table.get(job).status == "running"
    r.stop(job)  # whoever runs the server still can (here: the runner itself, as `python -m core jobs stop` does)
    assert r.wait(job, 20).status == "stopped"
    # the browser that started a job may stop it after a reload (a new session: the actor differs, the browser not)
    from components import state

    monkeypatch.setattr(state, "browser_id", lambda: "b" * 64)
    started.clear()
    mine = r.submit("sweep", {"follow": "acc", "dataset": "digits", "browser": "b" * 16}, _waiting_work(started),
                    actor="visitor session=before-the-reload ip=10.0.0.9")
    assert started.wait(20)
    reloaded = open_app("pages/accuracy.py")
    assert not reloaded.button(key="acc_stop").disabled
    monkeypatch.setattr(state, "browser_id", lambda: "c" * 64)  # another browser: still refused
    assert open_app("pages/accuracy.py").button(key="acc_stop").disabled
    r.stop(mine)
    assert r.wait(mine, 20).status == "stopped"
