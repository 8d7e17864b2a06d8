"""The job runner of one server process: worker threads run queued jobs, at most ``max_jobs()`` at once, in the
order they were submitted (a FIFO queue beyond that).

Threads, not processes: the work uses the server's already loaded, shared model (``st.cache_resource``) and hands
its result objects (a ``SweepResult``, a trained autoencoder) to the pages in memory; the heavy parts (torch,
NumPy, SQLite) release the GIL, and one process keeps the bound on concurrent work in one place. Everything a
job does is also recorded where any process can read it: its row in the ``jobs`` table (status, progress written
at most twice a second, error, a reference to what it produced) and the result itself (the sweep's run, the
check's row, the saved model).

Stopping: ``JobTable.request_stop`` sets ``stop_requested`` in the database (from any process: another tab, the
command line); a running job's ``should_stop`` reads it (at most every ``poll_s``), and the work raises
``Stopped``. When a runner starts, the jobs left queued or running by a server that has ended are marked
``interrupted`` (``JobTable.interrupt_orphans``): never silently lost, never shown as done.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import PrepscopeError, page_message
from core.jobs.table import FINISHED, Job, JobTable
from core.provenance import Stopped
from core.runs.store import RunStore
from core.shared import acting_as, audit, max_jobs

LOG = logging.getLogger("prepscope.jobs")
#: Finished jobs whose values (result objects) a runner keeps in memory for the pages.
KEEP_VALUES = 8

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class JobResult:
    """What a job's work returns: the ``value`` the pages show (kept in this process's memory), the ``ref`` to
    what it recorded (stored in the jobs table: ``{"runs": [12]}``), its closing line and any warnings."""

    value: Any
    ref: dict = field(default_factory=dict)
    message: str = "Done."
    warnings: tuple[str, ...] = ()


Work = Callable[[Progress, ShouldStop], JobResult]


class _Reporter:
    """The ``progress`` and ``should_stop`` one running job hands its work: progress goes to the database at most
    every ``interval_s`` (the last one always), the stop flag is read at most every ``poll_s``."""

    def __init__(self, table: JobTable, job_id: int, event: threading.Event, interval_s: float,
                 poll_s: float) -> None:
        self.table, self.job_id, self.event = table, job_id, event
        self.interval_s, self.poll_s = interval_s, poll_s
        self.last_write = self.last_poll = 0.0
        self.pending: tuple[float, str] | None = None

    def progress(self, fraction: float, message: str) -> None:
        self.pending = (fraction, message)
        now = time.monotonic()
        if now - self.last_write >= self.interval_s:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self.pending is None:
            return
        fraction, message = self.pending
        self.pending = None
        self.last_write = self.last_poll = now if now is not None else time.monotonic()
        try:
            if self.table.report(self.job_id, fraction, message):
                self.event.set()
        except PrepscopeError as e:  # a busy or vanished database never stops the work itself
            LOG.warning("job #%s: progress not written: %s", self.job_id, e)

    def should_stop(self) -> bool:
        if self.event.is_set():
            return True
        now = time.monotonic()
        if now - self.last_poll >= self.poll_s:
            self.last_poll = now
            try:
                if self.table.stop_requested(self.job_id):
                    self.event.set()
            except PrepscopeError as e:
                LOG.warning("job #%s: stop flag not read: %s", self.job_id, e)
        return self.event.is_set()


class JobRunner:
    """Runs jobs for one runs database in this process: ``submit`` queues one, ``stop`` asks one to stop,
    ``value`` gives a finished job's result object, ``wait`` blocks until a job ends (tests, the command line)."""

    def __init__(self, store: RunStore | None = None, *, workers: int | None = None, interval_s: float = 0.5,
                 poll_s: float = 0.5) -> None:
        self.table = JobTable(store)
        self.workers = workers or max_jobs()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.interval_s, self.poll_s = interval_s, poll_s
        self._queue: queue.Queue[tuple[int, str, Work, str, dict]] = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._events: dict[int, threading.Event] = {}
        self._values: OrderedDict[int, Any] = OrderedDict()
        self._busy = 0
        self.interrupted = self.table.interrupt_orphans(except_owner=self.owner)
        for job_id in self.interrupted:
            audit("job interrupted", job=job_id)

    # ------------------------------------------------------------------ the pages' side

    def submit(self, kind: str, settings: dict, work: Work, *, actor: str = "",
               audit_fields: dict | None = None) -> int:
        """Queue ``work(progress, should_stop) -> JobResult`` as a job of ``kind`` with ``settings`` (JSON: what
        it was asked to do); its id. It starts when one of the ``workers`` is free."""
        with self._lock:
            waiting = self._busy + self._queue.qsize()
            message = "Starting" if waiting < self.workers else self._queued_line(waiting)
            job_id = self.table.create(kind, settings, owner=self.owner, actor=actor, message=message)
            self._events[job_id] = threading.Event()
            self._queue.put((job_id, kind, work, actor, dict(audit_fields or {})))
            if len(self._threads) < self.workers:
                t = threading.Thread(target=self._worker, name=f"prepscope-job-worker-{len(self._threads)}",
                                     daemon=True)
                self._threads.append(t)
                t.start()
        with acting_as(actor) if actor else nullcontext():
            audit(f"{kind} queued", job=job_id, **(audit_fields or {}))
        return job_id

    def stop(self, job_id: int) -> Job:
        """Ask job ``job_id`` to stop (``JobTable.request_stop``; JobsError when unknown or ended)."""
        job = self.table.request_stop(job_id)
        event = self._events.get(int(job_id))
        if event is not None:
            event.set()
        return job

    def value(self, job_id: int) -> Any:
        """The result object of a job this runner finished (None when it is unknown here or was dropped)."""
        with self._lock:
            return self._values.get(int(job_id))

    def wait(self, job_id: int, timeout_s: float = 600.0, poll_s: float = 0.05) -> Job:
        """Block until job ``job_id`` has ended (or ``timeout_s`` passed); the job as it is then."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.table.get(job_id)
            if job.status in FINISHED or time.monotonic() > deadline:
                return job
            time.sleep(poll_s)

    # ------------------------------------------------------------------ the workers

    def _queued_line(self, ahead: int) -> str:
        return (f"Queued: {ahead} job(s) ahead; this server runs at most {self.workers} at a time "
                "(PREPSCOPE_MAX_JOBS).")

    def _count_down(self) -> None:
        """A job has left the queue: the jobs still waiting say how many are now ahead of them."""
        with self._lock:
            waiting = [(job_id, self._busy + i) for i, (job_id, *_) in enumerate(list(self._queue.queue))]
        for job_id, ahead in waiting:
            try:
                self.table.set_message(job_id, self._queued_line(ahead))
            except PrepscopeError as e:  # a busy database: the line is only late
                LOG.warning("job #%s: queue line not written: %s", job_id, e)

    def _worker(self) -> None:
        while True:
            job_id, kind, work, actor, fields = self._queue.get()
            with self._lock:
                self._busy += 1
            self._count_down()
            try:
                with acting_as(actor) if actor else nullcontext():
                    self._run(job_id, kind, work, fields)
            except Exception:  # noqa: BLE001 - a worker never dies: the next job must still run
                LOG.exception("job #%s: the runner could not record its end", job_id)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._events.pop(job_id, None)
                self._queue.task_done()

    def _run(self, job_id: int, kind: str, work: Work, fields: dict) -> None:
        if not self.table.claim(job_id):  # stopped while it waited
            audit(f"{kind} stopped", job=job_id, **fields)
            return
        event = self._events.get(job_id) or threading.Event()
        reporter = _Reporter(self.table, job_id, event, self.interval_s, self.poll_s)
        audit(f"{kind} started", job=job_id, **fields)
        try:
            out = work(reporter.progress, reporter.should_stop)
        except Stopped as e:
            self.table.finish(job_id, "stopped", message=page_message(e))
            audit(f"{kind} stopped", job=job_id, **fields)
            return
        except PrepscopeError as e:
            self.table.finish(job_id, "failed", message="Failed.", error=page_message(e))
            audit(f"{kind} failed", job=job_id, **fields)
            return
        except Exception as e:  # noqa: BLE001 - recorded as the job's error; the traceback goes to the server log
            LOG.exception("job #%s (%s) failed", job_id, kind)
            self.table.finish(job_id, "failed", message="Failed.",
                              error=f"The {kind} failed unexpectedly ({type(e).__name__}: {e}); the server's log "
                                    "has the details.")
            audit(f"{kind} failed", job=job_id, **fields)
            return
        with self._lock:
            self._values[job_id] = out.value
            while len(self._values) > KEEP_VALUES:
                self._values.popitem(last=False)
        reporter.pending = None
        ref = {**out.ref, **({"warnings": list(out.warnings)} if out.warnings else {})}
        self.table.finish(job_id, "done", message=out.message, result=ref)
        audit(f"{kind} finished", job=job_id, **fields)


_RUNNERS: dict[Path, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def runner(store: RunStore | None = None) -> JobRunner:
    """This process's job runner for the runs database of ``store`` (default ``$PREPSCOPE_HOME/runs.sqlite``),
    started on first use (marking jobs a dead server left as interrupted)."""
    store = store or RunStore()
    key = store.path.expanduser().absolute()
    with _RUNNERS_LOCK:
        found = _RUNNERS.get(key)
        if found is None:
            found = _RUNNERS[key] = JobRunner(store)
        return found
