"""The ``jobs`` table of the runs database (schema version 4, ``core.runs.store.MIGRATIONS``).

One row per job: its ``kind`` (``sweep``, ``check``, ``training``), its settings as JSON (what the page or command
asked for), its ``status`` (queued → running → done | failed | stopped, or interrupted when the server that ran it
ended first), the progress fraction and message, when it was created, started and ended, the error of a failed
job, the reference to what it produced (``{"runs": [12]}``, ``{"check": 3}``, ``{"model": "gray1"}``), its owner
(the server instance: ``host:pid:instance``), who started it (the audit log's actor) and ``stop_requested``: any
process (another tab, the command line) asks a job to stop by setting it; the work polls it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import PrepscopeError
from core.runs.store import RunStore, _dumps

STATUSES = ("queued", "running", "done", "failed", "stopped", "interrupted")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "stopped", "interrupted")
INTERRUPTED_MESSAGE = ("Interrupted: the server that ran this job (host {host}, process {pid}) ended before it "
                       "finished; nothing of it was kept. Start it again.")
_COLUMNS = ("id, kind, settings_json, status, progress, message, created_utc, started_utc, ended_utc, error, "
            "result_json, owner, actor, stop_requested")


class JobsError(PrepscopeError):
    """A job is unknown, or cannot do what was asked (stop a finished job)."""


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: int
    kind: str
    settings: dict
    status: str
    progress: float
    message: str
    created_utc: str
    started_utc: str | None
    ended_utc: str | None
    error: str | None
    result: dict | None
    owner: str
    actor: str
    stop_requested: bool

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE

    @property
    def label(self) -> str:
        """``job #4 (sweep)``."""
        return f"job #{self.id} ({self.kind})"

    @property
    def what(self) -> str:
        """What it was asked, in a few words from its settings: ``digits · probe · efficientnet_lite0``."""
        s = self.settings
        parts = [s.get("experiment"), s.get("name") or s.get("rule"), s.get("dataset"), s.get("method"),
                 ", ".join(s.get("models", [])) or s.get("model")]
        return " · ".join(str(p) for p in parts if p)

    def seconds(self) -> float | None:
        """How long it ran (until now while it runs); None before it started."""
        if not self.started_utc:
            return None
        end = datetime.fromisoformat(self.ended_utc) if self.ended_utc else datetime.now(UTC)
        return max(0.0, (end - datetime.fromisoformat(self.started_utc)).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": self.progress,
                "message": self.message, "created_utc": self.created_utc, "started_utc": self.started_utc,
                "ended_utc": self.ended_utc, "error": self.error, "result": self.result, "owner": self.owner,
                "actor": self.actor, "stop_requested": self.stop_requested, "settings": self.settings}


def _job(row: tuple) -> Job:
    (id_, kind, settings, status, progress, message, created, started, ended, error, result, owner, actor,
     stop) = row
    return Job(int(id_), kind, json.loads(settings), status, float(progress), message, created, started, ended, error,
               None if result is None else json.loads(result), owner, actor, bool(stop))


def owner_alive(owner: str) -> bool | None:
    """Whether the server instance ``owner`` (``host:pid:instance``) still runs: False when it ran on this host and
    its process is gone, None when that cannot be known here (another host)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class JobTable:
    """The jobs of the runs database ``store`` (each call its own connection and transaction)."""

    def __init__(self, store: RunStore | None = None) -> None:
        self.store = store or RunStore()

    def create(self, kind: str, settings: dict, *, owner: str, actor: str = "", message: str = "Queued") -> int:
        """A new queued job; its id."""
        with self.store._write() as con:
            cur = con.execute("INSERT INTO jobs (kind, settings_json, status, message, created_utc, owner, actor) "
                              "VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                              (kind, _dumps(settings), message, now_utc(), owner, actor))
            return int(cur.lastrowid)

    def get(self, job_id: int) -> Job:
        """Job ``job_id``; JobsError when there is none."""
        with self.store.connect() as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise JobsError(f"There is no job #{job_id} in {self.store.path}; `python -m core jobs list` shows the "
                            "jobs.")
        return _job(row)

    def list(self, *, statuses: tuple[str, ...] | None = None, kind: str | None = None,
             limit: int = 100) -> list[Job]:
        """Jobs, newest first, of ``statuses`` and ``kind`` when given."""
        where, args = [], []
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += list(statuses)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = (f"SELECT {_COLUMNS} FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY id DESC LIMIT ?")
        with self.store.connect() as con:
            rows = con.execute(sql, (*args, int(limit))).fetchall()
        return [_job(r) for r in rows]

    def claim(self, job_id: int) -> bool:
        """Queued → running (now); False when the job is no longer queued (stopped while it waited)."""
        with self.store._write() as con:
            cur = con.execute("UPDATE jobs SET status = 'running', started_utc = ?, message = 'Starting' "
                              "WHERE id = ? AND status = 'queued'", (now_utc(), int(job_id)))
            return cur.rowcount == 1

    def set_message(self, job_id: int, message: str) -> None:
        """A queued job's line (what it waits for)."""
        with self.store._write() as con:
            con.execute("UPDATE jobs SET message = ? WHERE id = ? AND status = 'queued'", (message, int(job_id)))

    def report(self, job_id: int, fraction: float, message: str) -> bool:
        """A running job's progress; returns whether it was asked to stop (one transaction for both)."""
        with self.store._write() as con:
            con.execute("UPDATE jobs SET progress = ?, message = ? WHERE id = ? AND status = 'running'",
                        (min(1.0, max(0.0, float(fraction))), message, int(job_id)))
            row = con.execute("SELECT stop_requested FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        return bool(row and row[0])

    def stop_requested(self, job_id: int) -> bool:
        with self.store.connect() as con:
            row = con.execute("SELECT stop_requested FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: int, status: str, *, message: str, error: str | None = None,
               result: dict | None = None) -> None:
        """Running (or queued) → ``status`` (done, failed, stopped), with its line, error and result reference."""
        if status not in FINISHED:
            raise ValueError(status)
        with self.store._write() as con:
            con.execute("UPDATE jobs SET status = ?, message = ?, error = ?, result_json = ?, ended_utc = ?, "
                        "progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END "
                        "WHERE id = ? AND status IN ('queued', 'running')",
                        (status, message, error, None if result is None else _dumps(result), now_utc(), status,
                         int(job_id)))

    def request_stop(self, job_id: int) -> Job:
        """Ask job ``job_id`` to stop: a queued job is stopped at once, a running one when its work next looks.
        JobsError when the job is unknown or already finished."""
        with self.store._write() as con:
            row = con.execute("SELECT status FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
            if row is None:
                raise JobsError(f"There is no job #{job_id} in {self.store.path}; `python -m core jobs list` shows "
                                "the jobs.")
            if row[0] in FINISHED:
                raise JobsError(f"Job #{job_id} has already ended ({row[0]}); there is nothing to stop.")
            con.execute("UPDATE jobs SET stop_requested = 1 WHERE id = ?", (int(job_id),))
            con.execute("UPDATE jobs SET status = 'stopped', ended_utc = ?, "
                        "message = 'Stopped while queued; nothing ran.' WHERE id = ? AND status = 'queued'",
                        (now_utc(), int(job_id)))
        return self.get(job_id)

    def interrupt_orphans(self, alive: Callable[[str], bool | None] = owner_alive, *,
                          except_owner: str | None = None) -> list[int]:
        """Mark queued or running jobs whose owner has ended (``alive(owner)`` is False, or the owner is another
        instance in ``except_owner``'s own process) as interrupted, with a message; their ids."""
        me = except_owner.rsplit(":", 1)[0] if except_owner else None
        with self.store._write() as con:
            rows = con.execute("SELECT id, owner FROM jobs WHERE status IN ('queued', 'running')").fetchall()
            gone = [(i, o) for i, o in rows
                    if o != except_owner and (alive(o) is False or (me is not None and o.rsplit(":", 1)[0] == me))]
            for job_id, owner in gone:
                host, _, rest = owner.partition(":")
                message = INTERRUPTED_MESSAGE.format(host=host, pid=rest.partition(":")[0])
                con.execute("UPDATE jobs SET status = 'interrupted', ended_utc = ?, message = ?, error = ? "
                            "WHERE id = ?", (now_utc(), message, message, job_id))
        return [i for i, _ in gone]
