"""A server several people share (a team box, a demo): the policy, the audit log and the bound on heavy work.

Shared mode is on when ``PREPSCOPE_SHARED`` is ``1`` (or ``true``, ``yes``, ``on``); it is off by default (a
laptop). In shared mode the dashboard refuses to delete runs and to overwrite saved models (the command line
on the server still can), shows no server paths, shows the items of a run only when its dataset lies under
the data root, and every run, training and deletion writes one audit line to the server's log (the
``prepscope.audit`` logger, on stderr unless logging is configured otherwise). Heavy work (sweeps,
trainings) takes a slot first: at most ``PREPSCOPE_MAX_HEAVY`` at once per server process (default 1 in
shared mode, unbounded otherwise); the others wait, saying for what.
"""

from __future__ import annotations

import contextvars
import getpass
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.paths import data_root
from core.provenance import Stopped

SHARED_ENV = "PREPSCOPE_SHARED"
MAX_HEAVY_ENV = "PREPSCOPE_MAX_HEAVY"
AUDIT = logging.getLogger("prepscope.audit")
#: How often a waiting job looks again (and polls its stop button), in seconds.
WAIT_POLL_S = 0.5

_ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("prepscope_actor", default=None)
_SLOTS = threading.Condition()
_RUNNING: list[str] = []


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def shared_mode() -> bool:
    """Whether this process serves several people (``PREPSCOPE_SHARED=1``)."""
    return _flag(SHARED_ENV)


def max_heavy() -> int | None:
    """How many heavy jobs may run at once in this process: ``PREPSCOPE_MAX_HEAVY`` (a positive integer), else 1
    in shared mode and no bound (None) otherwise."""
    raw = os.environ.get(MAX_HEAVY_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return 1 if shared_mode() else None


# ------------------------------------------------------------------------------------------------ audit


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Audit lines written inside name ``actor`` (a dashboard visitor) instead of the command line's user."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def actor() -> str:
    """Who is acting: the visitor set by ``acting_as``, else the command line's user and process."""
    who = _ACTOR.get()
    if who:
        return who
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"cli user={user} pid={os.getpid()}"


def audit(action: str, **fields: object) -> None:
    """One line ``audit <action> by <actor>: key=value …`` in the server's log (shared mode only)."""
    if not shared_mode():
        return
    if not AUDIT.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        AUDIT.addHandler(handler)
        AUDIT.setLevel(logging.INFO)
        AUDIT.propagate = False
    detail = " ".join(f"{k}={v!r}" for k, v in fields.items())
    AUDIT.info("%s by %s%s", action, actor(), f": {detail}" if detail else "")


# ------------------------------------------------------------------------------------------------ heavy work


def running_heavy() -> list[str]:
    """What heavy work is running now in this process (``sweep``, ``training``), oldest first."""
    with _SLOTS:
        return list(_RUNNING)


@contextmanager
def heavy_work(kind: str, *, on_wait: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None, **fields: object) -> Iterator[None]:
    """Hold one of the ``max_heavy()`` slots while the block runs ``kind`` of work (``sweep``, ``training``).

    While all slots are taken, ``on_wait`` is told once ("Waiting for another sweep to finish…") and
    ``should_stop`` is polled: True raises Stopped without running anything. The start and the end (finished,
    stopped, failed or interrupted) are audit lines carrying ``fields``."""
    limit = max_heavy()
    with _SLOTS:
        told = False
        while limit is not None and len(_RUNNING) >= limit:
            if should_stop is not None and should_stop():
                raise Stopped(f"Stopped while waiting for another {_RUNNING[0]} to finish; nothing ran.")
            if on_wait is not None and not told:
                on_wait(f"Waiting for another {_RUNNING[0]} to finish (this server runs at most {limit} sweep or "
                        f"training at a time)…")
                told = True
            _SLOTS.wait(WAIT_POLL_S)
        _RUNNING.append(kind)
    audit(f"{kind} started", **fields)
    outcome = "interrupted"  # a page left mid-run (the script's rerun or stop passes through here)
    try:
        yield
        outcome = "finished"
    except Stopped:
        outcome = "stopped"
        raise
    except Exception:
        outcome = "failed"
        raise
    finally:
        with _SLOTS:
            _RUNNING.remove(kind)
            _SLOTS.notify_all()
        audit(f"{kind} {outcome}", **fields)


# ------------------------------------------------------------------------------------------------ paths


def under_data_root(path: str | Path | None) -> bool:
    """Whether ``path`` (links resolved) lies inside the data root (False without a data root)."""
    root = data_root()
    if root is None or not path:
        return False
    try:
        full, base = Path(path).resolve(), root.resolve()
    except (OSError, RuntimeError):
        return False
    return full == base or base in full.parents


def public_path(path: str | Path | None) -> str:
    """``path`` as a page may show it: unchanged on a laptop; in shared mode an absolute path is shown relative to
    the data root (``data root/hymenoptera/train``), or only its last part when it lies elsewhere
    (``…/runs.sqlite``)."""
    if path is None:
        return ""
    if not shared_mode() or not Path(path).is_absolute():  # ``builtin:digits``, a relative name: nothing to hide
        return str(path)
    root = data_root()
    if root is not None and under_data_root(path):
        rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
        return "data root" + ("" if rel == "." else f"/{rel}")
    return f"…/{Path(path).name}"
