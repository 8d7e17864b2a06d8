"""prepscope dashboard entry point: navigation over pages/, the shared sidebar, and URL state.

Run with ``streamlit run app.py`` (or ``make run``). Pages are listed in a fixed order and only
when their file exists, so the dashboard runs while pages are being added.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components import state
from components.sidebar import render_sidebar
from core.errors import PrepscopeError

ROOT = Path(__file__).resolve().parent
#: (file, title, icon) in navigation order; the first is the default page.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("pages/start.py", "Start", ":material/home:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
    ("pages/feature_maps.py", "Feature maps", ":material/grid_view:"),
    ("pages/activations.py", "Activation statistics", ":material/monitoring:"),
    ("pages/audio.py", "Audio", ":material/graphic_eq:"),
    ("pages/accuracy.py", "Accuracy", ":material/target:"),
)


def available_pages() -> list[st.Page]:
    """The pages whose file exists, in navigation order (Start is the default)."""
    return [
        st.Page(path, title=title, icon=icon, default=(i == 0))
        for i, (path, title, icon) in enumerate(PAGES)
        if (ROOT / path).is_file()
    ]


def main() -> None:
    """One run of the dashboard: page config, state from the URL, sidebar, then the current page."""
    st.set_page_config(page_title="prepscope", page_icon=":material/biotech:", layout="wide")
    page = st.navigation(available_pages())
    state.init_state()
    render_sidebar()
    try:
        page.run()
    except PrepscopeError as e:
        st.error(str(e), icon=":material/error:")


main()
