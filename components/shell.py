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

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from components import state
from components.session import MAX_DROPPED_NAMED, MAX_LINK_CHARS, PAGE_OPTIONS, RESERVED_KEYS
from components.sidebar import render_model_status, render_sidebar
from components.text import md
from core.errors import PrepscopeError, page_message

try:  # Streamlit's own query limits (an internal module: the values of 1.67 when it moves)
    from streamlit.runtime.state.query_params import (
        CLIENT_STATE_QUERY_STRING_MAX_FIELDS,
        CLIENT_STATE_QUERY_STRING_MAX_LENGTH,
    )

    _QUERY_LIMITS = (CLIENT_STATE_QUERY_STRING_MAX_FIELDS, CLIENT_STATE_QUERY_STRING_MAX_LENGTH)
except ImportError:
    _QUERY_LIMITS = (1000, 512 * 1024)

#: (file, title, icon) in navigation order; the first is the default page.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("pages/start.py", "Start", ":material/home:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
    ("pages/feature_maps.py", "Feature maps", ":material/grid_view:"),
    ("pages/activations.py", "Activation statistics", ":material/monitoring:"),
    ("pages/audio.py", "Audio", ":material/graphic_eq:"),
    ("pages/accuracy.py", "Accuracy", ":material/target:"),
    ("pages/check.py", "Dataset check", ":material/fact_check:"),
    ("pages/runs.py", "Runs", ":material/history:"),
    ("pages/autoencoder_lab.py", "Autoencoder lab", ":material/auto_fix_high:"),
    ("pages/networks.py", "Networks", ":material/hub:"),
)

#: The tab icon, an SVG beside this file that Streamlit inlines as a data: URL (a ``:material/…:`` page icon is
#: fetched from a third-party font host, which an offline server cannot reach).
FAVICON = Path(__file__).with_name("favicon.svg")

_RUN = threading.local()
#: Less empty space above the page and the sidebar's content, so a page's first screen holds its results.
COMPACT_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; padding-bottom: 3rem; }
[data-testid="stSidebarUserContent"] { padding-top: 0.5rem; }
</style>"""
#: Two guards installed once per browser tab (a constant script, formatted with constants only: no user input).
#: One history entry per page visit: Streamlit's front end pushes a history entry for every query-parameter write
#: (``st.query_params``), so a page that rewrites its address while it runs left several entries and Back stayed on
#: the page. The first guard turns a push that keeps the page (same path: only the query changes) into a replace; a
#: page change still pushes, and Back/Forward work as before.
#: Links past Streamlit's limits: a query of more than 1,000 parameters (or 512 Ki characters) reaches the app as no
#: query at all, with no word. The second guard reads the address the tab was opened with; when it is past those
#: limits it reopens the page with the parameters prepscope uses (at most 64, each value at most MAX_LINK_CHARS) and
#: one ``dropped`` parameter naming the others, which ``components.session.from_params`` reports in its message.
BROWSER_GUARD = """<script>
(() => {
  const w = window;
  if (w.__prepscopeGuard) return;
  w.__prepscopeGuard = true;
  const push = w.history.pushState.bind(w.history);
  w.history.pushState = (state, unused, url) => {
    const target = new URL(url == null ? w.location.href : String(url), w.location.href);
    if (target.pathname === w.location.pathname) return w.history.replaceState(state, unused, url);
    return push(state, unused, url);
  };
  const nav = w.performance.getEntriesByType("navigation")[0];
  const opened = new URL(nav ? nav.name : w.location.href);
  const query = opened.search.slice(1);
  if (!query || (query.split("&").length <= %(max_fields)d && query.length <= %(max_chars)d)) return;
  const reserved = %(reserved)s, prefixes = %(prefixes)s;
  const used = (k) => reserved.includes(k) || prefixes.some((p) => p.endsWith("_") ? k.startsWith(p) : k === p);
  const kept = new URLSearchParams(), dropped = [];
  let total = 0;
  for (const [k, v] of new URLSearchParams(query)) {
    total += 1;
    if (used(k) && v.length <= %(max_value)d && [...kept.keys()].length < 64) kept.append(k, v);
    else if (dropped.length < %(max_named)d) dropped.push(k.slice(0, 40));
  }
  kept.set("dropped", JSON.stringify({n: total - [...kept.keys()].length, keys: dropped}));
  w.location.replace(opened.pathname + "?" + kept.toString());
})();
</script>"""


def browser_guard() -> str:
    """``BROWSER_GUARD`` filled with Streamlit's query limits and prepscope's URL keys."""
    max_fields, max_chars = _QUERY_LIMITS
    return BROWSER_GUARD % {
        "max_fields": max_fields, "max_chars": max_chars,
        "reserved": json.dumps([*RESERVED_KEYS, "embed", "embed_options"]),
        "prefixes": json.dumps([k for keys in PAGE_OPTIONS.values() for k in keys]),
        "max_value": MAX_LINK_CHARS, "max_named": MAX_DROPPED_NAMED,
    }


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
    st.set_page_config(page_title="prepscope", page_icon=FAVICON, layout="wide")
    st.html(COMPACT_CSS)
    page = st.navigation(pages())
    state.init(page_name(page))
    render_sidebar()
    with st.sidebar:
        st.html(browser_guard(), unsafe_allow_javascript=True)
    guide = state.current_guide()
    if guide:
        st.info(f"**Where to look:** {md(guide)}", icon=":material/visibility:")
    link_notes = st.container()  # above the page: what the link held that the page does not use
    try:
        if page_name(page) != "start":  # Start draws without torch; every other page's modules import it
            state.import_torch()
        with running_page():
            page.run()
        unread = state.drop_unread_options()
        if unread:
            link_notes.warning(md(unread), icon=":material/link_off:")
        state.sync_url()  # the page's switches (state.bound_widget), in one write of the address
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
