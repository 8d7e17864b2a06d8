"""The dashboard's side of shared-server mode (``core.shared``): who the visitor is in the audit log, the line a
page shows where shared mode refuses an action, and heavy work run under a status that says when it waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.shared import acting_as, heavy_work, shared_mode

#: The line shown beside an action that shared mode refuses.
REFUSED = ("This server is shared (PREPSCOPE_SHARED=1): {what} is not possible from the dashboard, so no visitor "
           "can undo another's work; whoever runs the server can still do it with `python -m core`.")


def visitor() -> str:
    """The visitor as the audit log names them: their session (a short id) and address."""
    ctx = get_script_run_ctx()
    session = ctx.session_id[:8] if ctx is not None else "?"
    try:
        address = st.context.ip_address or "?"
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest) there is no address
        address = "?"
    return f"visitor session={session} ip={address}"


def refused_line(what: str) -> str | None:
    """The sentence saying why ``what`` (``deleting runs``) is refused, or None when the server is not shared."""
    return REFUSED.format(what=what) if shared_mode() else None


@contextmanager
def as_visitor() -> Iterator[None]:
    """Audit lines written inside name this visitor."""
    with acting_as(visitor()):
        yield


@contextmanager
def heavy(kind: str, status, should_stop: Callable[[], bool], **fields: object) -> Iterator[None]:  # noqa: ANN001
    """Run the block as heavy work (``core.shared.heavy_work``) for this visitor; while it waits for a slot, the
    ``st.status`` says so ("Waiting for another sweep to finish…") and its label returns when the work starts."""
    waited = []

    def on_wait(message: str) -> None:
        waited.append(message)
        status.update(label=message, state="running")

    with as_visitor(), heavy_work(kind, on_wait=on_wait, should_stop=should_stop, **fields):
        if waited:
            status.update(label=f"Running the {kind}…", state="running")
        yield
