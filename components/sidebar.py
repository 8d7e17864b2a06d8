"""The shared sidebar: model, input (bundled sample or upload), and the variant set editor.

Rendered by app.py on every run, before the page, so its widgets (and their state) live across
pages. Widgets mirror the canonical state in components.state: each run seeds the widget keys from
the state and each callback writes the widget back, so a page that changes the state (e.g. the
Start page's guided questions) is reflected in the sidebar on the next run.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import state, variant_editor
from components.session import sample_description, sample_names
from components.text import md
from core.errors import PrepscopeError, page_message
from core.models import DEFAULT_MODEL, model_names, model_spec

_W_MODEL = "sb_model"
_W_SAMPLE = "sb_sample"
_W_UPLOAD = "sb_upload"
#: Pages that show what the network makes of the input (elsewhere an upload gets a link to Compare).
RESULT_PAGES = ("start", "compare", "feature_maps", "activations", "audio")
UPLOAD_CAPTION = (
    "Uploads stay in this browser (a reload keeps them): a copied link cannot carry a file, so elsewhere it opens "
    "with the bundled sample."
)


def _model_changed() -> None:
    state.set_model(st.session_state[_W_MODEL])


def _sample_changed() -> None:
    state.set_sample(st.session_state[_W_SAMPLE])


def thumbnail(array: np.ndarray, side: int = 192) -> np.ndarray:
    """A cheap strided thumbnail of a Signal array (for the sidebar preview)."""
    step = max(1, int(np.ceil(max(array.shape[:2]) / side)))
    return np.ascontiguousarray(array[::step, ::step])


def render_model() -> None:
    """Model choice, labelled from the registry's metadata (untrained baselines say so)."""
    names = model_names()  # the built-in models, then your networks (core.models.networks)
    if state.session().model not in names:  # a network removed since it was chosen
        st.caption(f"Network {md(state.session().model)} is no longer on this server; using {DEFAULT_MODEL}.")
        state.set_model(DEFAULT_MODEL)
    st.session_state[_W_MODEL] = state.session().model
    st.selectbox("Model", names, format_func=lambda n: model_spec(n).label, key=_W_MODEL,
                 on_change=_model_changed)
    render_model_status(st.empty())


def render_model_status(slot) -> None:  # noqa: ANN001 - a st.empty placeholder
    """The model's description, and whether it is still loading in the background (the shell calls this again
    after the page, so the line says "ready" as soon as a page has loaded it)."""
    spec = model_spec(state.session().model)
    ready = state.model_ready(spec.name)
    slot.caption(md(f"{spec.architecture}, {spec.weights}") + ("" if ready else " · loading in the background…"))
    st.session_state["_sb_model_slot"] = None if ready else slot


def render_input() -> None:
    """Bundled sample or upload (images and sounds); a refused upload shows the engine's message and the
    previous input stays."""
    st.session_state[_W_SAMPLE] = state.session().sample
    st.selectbox(
        "Bundled sample",
        sample_names(),
        format_func=lambda n: f"{n} · {sample_description(n)}",
        key=_W_SAMPLE,
        on_change=_sample_changed,
    )
    key = state.uploader_key(_W_UPLOAD)
    st.file_uploader(
        "…or upload an image or a sound",
        key=key,
        help="PNG, JPEG, TIFF, BMP, WebP, GIF, … or WAV, FLAC, OGG; the content is checked, not the file name.",
    )
    err = state.take_upload(key)
    if err:
        st.error(md(err), icon=":material/block:")
    st.caption(UPLOAD_CAPTION)
    s = state.session()
    if s.source == "upload":
        st.button(
            f"Use the sample '{s.sample}' instead",
            key="sb_use_sample",
            on_click=state.use_sample_input,
            icon=":material/undo:",
        )
    try:
        signal = state.get_signal()
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/error:")
        return
    label = state.session().input_label
    if signal.audio is not None:
        wave, sr = signal.audio
        st.audio(np.asarray(wave, dtype=np.float32), sample_rate=int(sr))
        st.caption(f"Current input: {md(label)} · {len(wave) / sr:.2f} s at {sr} Hz")
    else:
        h, w = signal.array.shape[:2]
        st.image(thumbnail(signal.array, 144), clamp=True, width=144)
        st.caption(f"Current input: {md(label)} · {w}×{h}{' gray' if signal.is_gray else ''}")
    if state.session().source == "upload" and state.current_page() not in (None, *RESULT_PAGES):
        st.page_link("pages/compare.py", label="What the network makes of it: Compare", icon=":material/compare:")


def render_sidebar() -> None:
    """The whole shared sidebar."""
    with st.sidebar:
        st.markdown("### :material/biotech: prepscope")
        render_model()
        st.markdown("**Input**")
        render_input()
        st.markdown("**Variant set**")
        variant_editor.render_summary()
        with st.expander("Edit variants", icon=":material/edit:", expanded=False):
            variant_editor.render_variant_set()
        with st.expander("Presets · import / export", icon=":material/folder_open:"):
            variant_editor.render_presets_and_json()
        st.caption("The address bar holds this view (sample, variants, model, page options): copy it to share.")
