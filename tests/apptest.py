"""Driving the real dashboard (app.py: shell, sidebar, then a page) through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from components.session import Session, encode_variants, widget_prefix
from components.state import import_torch
from core.preprocess.variant import VariantSet

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def open_app(page: str | None = None, variants: list | None = None, timeout: float = 180, **params: str) -> AppTest:
    """Run app.py with a link's parameters (and a variant set encoded as the link would), then open ``page``
    (e.g. ``pages/compare.py``) the way a click in the navigation does."""
    # AppTest's switch_page runs the page file itself (Streamlit's pages/ folder mode), so the page's imports run
    # before its shell.guard() hands it to the shell, which imports torch under the load lock first in the real
    # server (state.import_torch); importing it here keeps those imports from racing the background model load.
    import_torch()
    at = AppTest.from_file(APP, default_timeout=timeout)
    if variants is not None:
        at.query_params.update(encode_variants(VariantSet.of(variants)))
    at.query_params.update(params)
    at.run()
    if page is not None:
        at.switch_page(page).run()
    return at


def ok(at: AppTest) -> None:
    """No exception element on the page."""
    assert not at.exception, [e.value for e in at.exception]


def session(at: AppTest) -> Session:
    return at.session_state["prepscope_session"]


def editor_key(at: AppTest, path: str, uid: str | None = None) -> str:
    """The key of the variant editor's widget for field ``path`` of variant ``uid`` (default: the selected one)."""
    editor = session(at).editor
    uid = uid or editor.selected
    return widget_prefix(uid, editor.generations.get(uid, 0)) + path


def key_ending(at: AppTest, kind: str, suffix: str) -> str:
    """The key of the one ``kind`` widget (e.g. ``number_input``) whose key ends with ``suffix``."""
    keys = [w.key for w in at.get(kind) if w.key and w.key.endswith(suffix)]
    assert len(keys) == 1, keys
    return keys[0]


def uploader(at: AppTest, base: str):  # noqa: ANN201 - AppTest FileUploader
    """The input uploader whose key is ``base`` in its current generation (``sb_upload_0``, …)."""
    found = [u for u in at.get("file_uploader") if u.key and u.key.rsplit("_", 1)[0] == base]
    assert len(found) == 1, [u.key for u in at.get("file_uploader")]
    return found[0]


def plain(text: str) -> str:
    """Markdown text from the page as the user reads it (``components.text.md`` escapes and breaks removed)."""
    import re

    return re.sub(r"\\(.)", r"\1", text.replace("\u200b", ""))


def run_job(at: AppTest, button: str, timeout_s: float = 600) -> AppTest:
    """Click ``button`` (it starts a job: a sweep, a check, a training), wait until the server's job runner has
    ended every job, then run the page again, which takes the job's result as a tab does on its next poll."""
    from core.jobs import ACTIVE, JobTable, runner

    at.button(key=button).click().run()
    for job in JobTable().list(statuses=ACTIVE):
        runner().wait(job.id, timeout_s)
    return at.run()
