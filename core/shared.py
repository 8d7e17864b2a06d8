"""A server several people share (a team box, a demo): the policy, the audit log and the bound on heavy work.

Shared mode is on when ``PREPSCOPE_SHARED`` is ``1`` (or ``true``, ``yes``, ``on``); it is off by default (a
laptop). In shared mode the dashboard refuses to delete runs and to overwrite saved models (the command line
on the server still can), shows no server paths, shows the items of a run only when its dataset lies under
the data root, and every run, training and deletion writes one audit line to the server's log (the
``prepscope.audit`` logger, on stderr unless logging is configured otherwise). Long work (sweeps, checks,
trainings) runs as jobs (``core.jobs``): at most ``max_jobs()`` at once per server process, the others queued.
"""

from __future__ import annotations

import contextvars
import csv
import getpass
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.paths import data_root

SHARED_ENV = "PREPSCOPE_SHARED"
MAX_JOBS_ENV = "PREPSCOPE_MAX_JOBS"
#: The older name of the same bound (read when PREPSCOPE_MAX_JOBS is not set).
MAX_HEAVY_ENV = "PREPSCOPE_MAX_HEAVY"
AUDIT = logging.getLogger("prepscope.audit")

_ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("prepscope_actor", default=None)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def shared_mode() -> bool:
    """Whether this process serves several people (``PREPSCOPE_SHARED=1``)."""
    return _flag(SHARED_ENV)


def max_jobs() -> int:
    """How many jobs (sweeps, checks, trainings) a server process runs at once, the others queued:
    ``PREPSCOPE_MAX_JOBS`` (a positive integer), else ``PREPSCOPE_MAX_HEAVY`` (its older name), else 1."""
    for name in (MAX_JOBS_ENV, MAX_HEAVY_ENV):
        raw = os.environ.get(name, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return 1


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


def _looks_absolute(text: str) -> bool:
    return (text.startswith(("/", "\\")) or (len(text) > 2 and text[1] == ":" and text[2] in "/\\")) and \
        "\n" not in text and len(text) < 4096


def public_document(value: object) -> object:
    """A JSON-able value as a download may carry it: unchanged on a laptop; in shared mode every string that is an
    absolute path (a dataset's root, an item's file, a saved model, the runs database) passes ``public_path``."""
    if not shared_mode():
        return value
    if isinstance(value, str):
        return public_path(value) if _looks_absolute(value) else value
    if isinstance(value, dict):
        return {k: public_document(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public_document(v) for v in value]
    return value


def public_csv(text: str) -> str:
    """A CSV download with ``public_document``'s rule applied to every cell (unchanged on a laptop)."""
    if not shared_mode():
        return text
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([public_document(c) for c in row])
    return out.getvalue()


def public_json(value: object, default=None) -> str:  # noqa: ANN001 - json.dumps's default hook
    """``value`` as the indented UTF-8 JSON of a download, after ``public_document``."""
    return json.dumps(public_document(value), indent=2, ensure_ascii=False, default=default)
