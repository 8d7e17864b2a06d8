"""Long work on a page (a sweep, a dataset check, a lab training) run under an ``st.status`` with a progress bar and a
Stop button: ``start_with_stop`` draws them, ``run_with_stop`` runs the work and says how it ended. The page keeps
its own messages (what stopped, what could not run).

The Stop button sets an event that the work polls through ``should_stop`` (the engine raises ``Stopped``); the
click also makes Streamlit end the current script run for a rerun, so anything the page must show after a stop is
set by ``on_stop`` (a callback run by the click), not where the work raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from components import shared
from core.errors import PrepscopeError
from core.provenance import Stopped

#: ``progress(fraction in [0, 1], message)`` and ``should_stop()``, as the engine takes them.
Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class StopRun:
    """The status drawn for one run: update it with ``status.update``; ``progress`` and ``should_stop`` go to the
    work."""

    status: Any
    bar: Any
    should_stop: ShouldStop

    def progress(self, fraction: float, message: str) -> None:
        self.bar.progress(min(1.0, max(0.0, fraction)), text=message)


@dataclass(frozen=True)
class Ran:
    """How a run ended: its ``value``, or the ``Stopped`` it raised (Stop was clicked), or the refusal it raised."""

    value: Any = None
    stopped: Stopped | None = None
    error: PrepscopeError | None = None


def _stop(key: str, on_stop: Callable[[], None] | None) -> None:
    event = st.session_state.get(f"{key}_stop_event")
    if event is not None:
        event.set()
    if on_stop is not None:
        on_stop()


def start_with_stop(key: str, label: str, *, first_text: str = "Starting",
                    on_stop: Callable[[], None] | None = None) -> StopRun:
    """Draw the status ``label`` with a progress bar (``first_text``) and a Stop button (widget key ``{key}_stop``;
    its event lives under ``{key}_stop_event`` for this run). ``on_stop`` runs when Stop is clicked."""
    event = threading.Event()
    st.session_state[f"{key}_stop_event"] = event
    status = st.status(label, expanded=True)
    bar = status.progress(0.0, text=first_text)
    status.button("Stop", key=f"{key}_stop", on_click=_stop, args=(key, on_stop), icon=":material/stop:")
    return StopRun(status=status, bar=bar, should_stop=event.is_set)


def run_with_stop(run: StopRun, work: Callable[[Progress, ShouldStop], Any], *,
                  heavy: tuple[str, dict[str, object]] | None = None) -> Ran:
    """Run ``work(progress, should_stop)`` under ``run``'s status; with ``heavy=(kind, fields)`` as shared-server
    heavy work (it waits for a slot, ``components.shared.heavy``). Never raises ``Stopped`` or a ``PrepscopeError``:
    the returned ``Ran`` carries them."""
    try:
        if heavy is None:
            return Ran(value=work(run.progress, run.should_stop))
        kind, fields = heavy
        with shared.heavy(kind, run.status, run.should_stop, **fields):
            return Ran(value=work(run.progress, run.should_stop))
    except Stopped as e:
        return Ran(stopped=e)
    except PrepscopeError as e:
        return Ran(error=e)
