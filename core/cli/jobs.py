"""``python -m core jobs list [--json] | stop ID``: the jobs of the runs database (``core.jobs``) — the sweeps,
checks and trainings a dashboard server runs — from the command line, in any process.

``list`` first marks the jobs a server on this machine left queued or running when it ended as interrupted.
``stop`` sets the job's stop flag in the database: a queued job stops at once, a running one when its work next
looks (about a second); the server that runs it records how it ended.
"""

from __future__ import annotations

import argparse
import json

from core.cliutil import format_table
from core.jobs import Job, JobTable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``jobs list | stop`` on ``parser``."""
    sub = parser.add_subparsers(dest="jobs_command", required=True)
    ls = sub.add_parser("list", help="jobs, newest first: queued, running and ended")
    ls.add_argument("--json", action="store_true", help="print them as JSON (every field, settings included)")
    ls.add_argument("--status", choices=("queued", "running", "done", "failed", "stopped", "interrupted"),
                    action="append", help="only jobs of this status (repeatable)")
    ls.add_argument("--limit", type=int, default=50, help="at most this many jobs (default 50)")
    stop = sub.add_parser("stop", help="ask a queued or running job to stop")
    stop.add_argument("id", type=job_id, help="the job's number as `jobs list` shows it (#3 or 3)")


def job_id(text: str) -> int:
    """A job id as typed: ``3`` or ``#3`` (as ``jobs list`` prints it)."""
    digits = text.strip().removeprefix("#")
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id: give the number `python -m core jobs list` "
                                         "shows (#3 or 3).")
    return int(digits)


def jobs_table(jobs: list[Job]) -> str:
    """One row per job: id, kind, status, progress, created, seconds, what it was asked, its line."""
    header = ["id", "kind", "status", "progress", "created (UTC)", "seconds", "what", "message"]
    rows = [[f"#{j.id}", j.kind, j.status + (" (stop asked)" if j.stop_requested and j.active else ""),
             f"{j.progress:.0%}", j.created_utc.replace("T", " ").removesuffix("+00:00"),
             "" if j.seconds() is None else f"{j.seconds():.1f}", j.what,
             (j.error if j.status == "failed" and j.error else j.message)[:100]] for j in jobs]
    return format_table(rows, header)


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed ``jobs`` command; refusals are JobsError sentences (exit 2 through ``python -m core``)."""
    table = JobTable()
    if args.jobs_command == "list":
        table.interrupt_orphans()
        jobs = table.list(statuses=tuple(args.status) if args.status else None, limit=max(1, args.limit))
        if args.json:
            print(json.dumps([j.to_dict() for j in jobs], indent=2, ensure_ascii=False))
        elif not jobs:
            print(f"no jobs in {table.store.path}" + (" with that status" if args.status else ""))
        else:
            print(jobs_table(jobs))
        return 0
    table.interrupt_orphans()
    job = table.request_stop(args.id)
    if job.status == "stopped":
        print(f"job #{job.id} ({job.kind}) was queued: stopped, nothing ran")
    else:
        print(f"job #{job.id} ({job.kind}) asked to stop; it stops when its work next looks (about a second): "
              "`python -m core jobs list` shows how it ended")
    return 0
