"""Long work started on a page (a sweep, a dataset check, a lab training) runs as a job of the server
(``core.jobs``), outside the Streamlit script run: the page that started it, a reload, another tab and the Runs
page all follow the same job through the runs database.

``submit`` queues the work and makes this tab follow the job under a key (``acc``, ``check``, ``ael_g`` …);
``follow`` finds the job a page shows (the one this tab follows, else the newest queued or running job of that
key, which is how a reload or a second tab finds it); ``render_job`` draws it: while it is queued or running, a
fragment that polls the database once a second (progress bar, its line, a Stop button); once it has ended, the
page's ``on_finish`` takes the result (from the server's memory, or what the job recorded) into the tab's
``Session`` once, and a closed status says how it ended. The work must not touch ``st.*`` or the session: read
everything it needs (the model, the variants, an upload's bytes) before ``submit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from components import shared, state
from components.session import JobFollow
from components.text import md
from core.errors import PrepscopeError, page_message
from core.evaluate.datasets import DatasetRequest
from core.jobs import ACTIVE, Job, JobRunner, JobTable, runner
from core.jobs.runner import Progress, ShouldStop, Work
from core.shared import public_path

__all__ = ["POLL_S", "Progress", "ShouldStop", "dataset_label", "follow", "job_runner", "open_job", "render_job",
           "restored", "stop_job", "stop_refused", "submit"]

#: How often a page asks the database about a job it shows, in seconds.
POLL_S = 1.0
#: Which page shows the jobs of each follow key (the Runs page opens a job there).
PAGES = {"acc": "pages/accuracy.py", "check": "pages/check.py", "ael_g": "pages/autoencoder_lab.py",
         "ael_p": "pages/autoencoder_lab.py", "ael_s": "pages/autoencoder_lab.py"}


def job_runner() -> JobRunner:
    """This server's job runner for the runs database (started, and dead servers' jobs marked, on first use)."""
    return runner()


def dataset_label(request: DatasetRequest) -> str:
    """How a job's settings name the dataset of ``request`` (Runs and ``jobs list`` show it): the built-in's name,
    the uploaded zip's name, or the folder as a page may show it (a request's ``zip_name`` has a default even
    when nothing was uploaded, so it counts only with an upload's bytes)."""
    if request.builtin:
        return request.builtin
    if request.zip_bytes is not None:
        return request.zip_name
    return public_path(request.path)


def submit(key: str, kind: str, settings: dict, work: Work, **audit_fields: object) -> int | None:
    """Queue ``work`` as a job of ``kind`` (``settings``: what it was asked, as JSON) started by this visitor, and
    make this tab follow it under ``key``; its id, or None when the runs database refused (the error is shown)."""
    browser = _browser_tag()
    try:
        job_id = job_runner().submit(kind, {**settings, "follow": key, **({"browser": browser} if browser else {})},
                                     work, actor=shared.visitor(), audit_fields=audit_fields)
    except PrepscopeError as e:
        st.error(f"The job could not be started: {md(page_message(e))}", icon=":material/database:")
        return None
    state.session().jobs[key] = JobFollow(job_id)
    return job_id


def _browser_tag() -> str | None:
    """A short tag of this browser (``state.browser_id``, kept across reloads), which a job's settings record so that
    a reload of the tab that started it finds it again once it has ended; None without a browser identity."""
    browser = state.browser_id()
    return browser[:16] if browser else None


def _started_in_this_browser(job: Job) -> bool:
    """Whether this browser (any of its tabs, before or after a reload) started ``job``."""
    browser = _browser_tag()
    return browser is not None and job.settings.get("browser") == browser


def follow(key: str) -> Job | None:
    """The job the page of ``key`` shows: the one this tab follows while it runs; else a newer queued or running one
    started under ``key`` by anyone (a reload, another tab), which this tab then follows; else the ended one. A tab
    that follows none (a reload, another tab of the same browser, a tab reconnected after a restart) is shown the
    newest ended job of ``key`` that this browser started on this server process (its result, as when it ended),
    or the job of ``key`` this server marked interrupted when it started, while no newer job of ``key`` exists: a
    reload never loses a result, and a restart never makes a job vanish."""
    table = JobTable()
    mine = state.session().jobs.get(key)
    try:
        if mine is not None and not mine.handled:
            return table.get(mine.job_id)
        interrupted = job_runner().interrupted  # a server's first page marks the jobs a dead server left so
        for job in table.list(statuses=ACTIVE, limit=50):
            if job.settings.get("follow") == key and (mine is None or job.id > mine.job_id):
                state.session().jobs[key] = JobFollow(job.id)
                return job
        if mine is not None:
            return table.get(mine.job_id)
        of_key = [j for j in table.list(limit=50) if j.settings.get("follow") == key]
        if of_key and of_key[0].id in interrupted:
            state.session().jobs[key] = JobFollow(of_key[0].id)
            return of_key[0]
        owner = job_runner().owner
        mine_ended = next((j for j in of_key if j.owner == owner and _started_in_this_browser(j)), None)
        if mine_ended is not None:
            state.session().jobs[key] = JobFollow(mine_ended.id, restored=True)
            return mine_ended
    except PrepscopeError as e:
        st.warning(f"The jobs could not be read: {md(page_message(e))}", icon=":material/database:")
    return None


def open_job(job: Job) -> None:
    """Follow ``job`` on its page (the Runs page's Open) and go there."""
    key = job.settings.get("follow")
    if key in PAGES:
        state.session().jobs[key] = JobFollow(job.id)
        st.switch_page(PAGES[key])


def stop_refused(job: Job) -> str | None:
    """Why this visitor may not stop ``job`` (on a shared server, a job another visitor started: another session
    and another browser; a reload of the tab that started it may), or None."""
    if job.actor == shared.visitor() or _started_in_this_browser(job):
        return None
    return shared.refused_line("stopping another visitor's job")


def stop_job(job_id: int, on_stop: Callable[[], None] | None = None) -> None:
    """Ask job ``job_id`` to stop (a click's callback); ``on_stop`` runs after (the page's notice)."""
    try:
        if stop_refused(JobTable().get(job_id)):  # a stale click from before the server became shared
            return
        job_runner().stop(job_id)
    except PrepscopeError as e:
        st.toast(page_message(e), icon=":material/info:")
        return
    if on_stop is not None:
        on_stop()


def restored(key: str) -> bool:
    """Whether the job this tab follows under ``key`` had ended when the tab found it (a reload of the tab that
    started it): its page then takes back the settings that produced the result, not only the result."""
    mine = state.session().jobs.get(key)
    return mine is not None and mine.restored


def _consume(key: str, job: Job, on_finish: Callable[[Job, Any], None]) -> None:
    mine = state.session().jobs.get(key)
    if mine is None or mine.job_id != job.id or mine.handled:
        return
    mine.handled = True
    on_finish(job, job_runner().value(job.id) if job.status == "done" else None)


def render_job(key: str, job: Job | None, label: str, *, on_finish: Callable[[Job, Any], None],
               on_stop: Callable[[], None] | None = None, failed_suffix: str = "",
               stopped_message: bool = True) -> None:
    """Draw the job this page follows: its live progress while it is queued or running, else how it ended (the
    first time, ``on_finish(job, value)`` takes its result into the session; ``value`` is None when this server
    no longer holds it: read what the job recorded). ``failed_suffix`` follows a failure's message;
    ``stopped_message=False`` leaves the stop's wording to the page."""
    if job is None:
        return
    if job.active:
        _live(key, job.id, label, on_stop)
        return
    _consume(key, job, on_finish)
    took = f" in {job.seconds():.1f} s" if job.seconds() is not None else ""
    if job.status == "done":
        st.status(f"Job #{job.id}: {job.message}" + ("" if job.message.startswith("Done in") else took),
                  state="complete", expanded=False)
        for warning in (job.result or {}).get("warnings", []):
            st.warning(md(warning), icon=":material/database:")
    elif job.status == "stopped":
        st.status(f"Job #{job.id}: stopped.", state="error", expanded=False)
        if stopped_message:
            st.warning(md(job.message), icon=":material/stop:")
    elif job.status == "interrupted":
        st.status(f"Job #{job.id}: interrupted.", state="error", expanded=False)
        st.warning(md(job.message), icon=":material/restart_alt:")
    else:
        st.status(f"Job #{job.id}: could not run.", state="error", expanded=False)
        st.error(md(job.error or "The job failed.") + failed_suffix, icon=":material/error:")


@st.fragment(run_every=POLL_S)
def _live(key: str, job_id: int, label: str, on_stop: Callable[[], None] | None) -> None:
    """A running or queued job's progress, redrawn from the database every ``POLL_S``; when it has ended, the whole
    page runs again to show the result."""
    try:
        job = JobTable().get(job_id)
    except PrepscopeError as e:
        st.warning(f"The job could not be read: {md(page_message(e))}", icon=":material/database:")
        return
    if not job.active:
        st.rerun(scope="app")
    queued = job.status == "queued"
    status = st.status(f"{label} · job #{job.id}" + (" · queued" if queued else ""), expanded=True,
                       state="running")
    status.progress(job.progress, text=md(job.message + (" — stopping…" if job.stop_requested else "")))
    status.caption("The job runs on the server: leave this page or open another tab and come back; the Runs page "
                   "lists it too.")
    refused = stop_refused(job)
    status.button("Stop", key=f"{key}_stop", on_click=stop_job, args=(job.id, on_stop), icon=":material/stop:",
                  disabled=job.stop_requested or bool(refused))
    if refused:
        status.caption(refused)
