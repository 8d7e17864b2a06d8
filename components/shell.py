"""The app shell (page config, navigation, state, sidebar, then the page) and the guard that makes
every page run inside it.

``app.py`` only calls ``main()``. Streamlit has a second mode for apps with a ``pages/`` folder: until
some run has called ``st.navigation``, a request for a page (a shared link such as ``/compare?…``
opened as the server's first request) runs that page file alone, without app.py: no sidebar, no
model choice, no state. Each page therefore starts with ``guard()``: outside the shell it runs the
shell itself, in the same script run (so the click or upload that started the run is not lost), and
stops; its ``st.navigation`` call switches Streamlit to the shell's navigation for the whole process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from core.errors import page_message

#: (file, title, icon) in navigation order; the first is the default page.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("pages/start.py", "Start", ":material/home:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
    ("pages/feature_maps.py", "Feature maps", ":material/grid_view:"),
    ("pages/activations.py", "Activation statistics", ":material/monitoring:"),
    ("pages/audio.py", "Audio", ":material/graphic_eq:"),
    ("pages/accuracy.py", "Accuracy", ":material/target:"),
    ("pages/runs.py", "Runs", ":material/history:"),
    ("pages/autoencoder_lab.py", "Autoencoder lab", ":material/auto_fix_high:"),
)

_RUN = threading.local()
#: Less empty space above the page and the sidebar's content, so a page's first screen holds its results.
COMPACT_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; padding-bottom: 3rem; }
[data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
</style>"""
#: One history entry per page visit: Streamlit's front end pushes a history entry for every query-parameter write
#: (``st.query_params``), so a page that rewrites its address while it runs left several entries and Back stayed on
#: the page. This guard, installed once per browser tab, turns a push that keeps the page (same path: only the
#: query changes) into a replace; a page change still pushes, and Back/Forward work as before.
HISTORY_GUARD = """<script>
(() => {
  const w = window;
  if (w.__prepscopeHistoryGuard) return;
  w.__prepscopeHistoryGuard = true;
  const push = w.history.pushState.bind(w.history);
  w.history.pushState = (state, unused, url) => {
    const target = new URL(url == null ? w.location.href : String(url), w.location.href);
    if (target.pathname === w.location.pathname) return w.history.replaceState(state, unused, url);
    return push(state, unused, url);
  };
})();
</script>"""


def pages() -> list[st.Page]:
    """The pages in navigation order (Start is the default)."""
    return [st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon) in enumerate(PAGES)]


def page_name(page: st.Page) -> str:
    """A page's name: its file name under pages/ (``compare``); the key of ``components.session.PAGE_OPTIONS``."""
    path = next((path for path, title, _ in PAGES if title == page.title), "")
    return path.removeprefix("pages/").removesuffix(".py")


@contextmanager
def running_page() -> Iterator[None]:
    """Marks the page run that app.py makes (pages run in the thread of the script run)."""
    _RUN.inside = True
    try:
        yield
    finally:
        _RUN.inside = False


def main() -> None:
    """One run of the dashboard: page config, state from the URL, sidebar, then the current page."""
    from components import state
    from components.sidebar import render_model_status, render_sidebar
    from components.text import md
    from core.errors import PrepscopeError

    st.set_page_config(page_title="prepscope", page_icon=":material/biotech:", layout="wide")
    st.html(COMPACT_CSS)
    page = st.navigation(pages())
    state.init(page_name(page))
    render_sidebar()
    with st.sidebar:
        st.html(HISTORY_GUARD, unsafe_allow_javascript=True)  # a constant script, no user input
    link_notes = st.container()  # above the page: what the link held that the page does not use
    try:
        with running_page():
            page.run()
        unread = state.drop_unread_options()
        if unread:
            link_notes.warning(md(unread), icon=":material/link_off:")
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/error:")
    finally:
        # after the page has drawn (or stopped): importing torch and building the model would compete with the
        # first paint for the interpreter; a page that needs numbers before this loads the model itself (spinner)
        state.preload_model(state.session().model)
    slot = st.session_state.pop("_sb_model_slot", None)
    if slot is not None and state.model_ready(state.session().model):
        render_model_status(slot)


def guard() -> None:
    """First line of every page: outside the shell, run the shell (which runs this page inside it) and stop."""
    if getattr(_RUN, "inside", False):
        return
    main()
    st.stop()
