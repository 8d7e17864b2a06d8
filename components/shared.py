"""The dashboard's side of shared-server mode (``core.shared``): who the visitor is in the audit log, the line a
page shows where shared mode refuses an action. Long work runs as jobs (``components.running``), bounded and
queued by the server's job runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.shared import acting_as, shared_mode

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
