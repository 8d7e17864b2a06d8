"""Start page: what prepscope answers, and guided questions (kept in the preset files) that open Compare with a
preset and a sample."""

from __future__ import annotations

import streamlit as st

from components import shell, state
from components.session import to_params
from components.text import md
from core.preprocess.presets import get_preset, preset_questions

shell.guard()

COMPARE_PAGE = "pages/compare.py"


def open_question(preset: str, sample: str) -> None:
    """Set the sample and the preset for a guided question (the caller then switches to Compare)."""
    state.set_sample(sample)
    state.set_variants(get_preset(preset))


def main() -> None:
    """Render the Start page."""
    st.title("prepscope")
    st.markdown(
        "**What does this preprocessing choice do to the model?** prepscope runs one image or sound through "
        "several preprocessing *variants* at once (colormap, storage, resizing library and interpolation, "
        "resolution, channel strategy, normalization, "
        "compression, noise) and shows, side by side, what a convolutional network makes of each: its "
        "predictions, its feature maps layer by layer, its activation statistics, and its accuracy on a dataset. "
        "The first variant of the set is the reference the others are compared to."
    )
    st.markdown(
        "Choose a model, an input and a variant set in the sidebar, or start from one of these questions."
    )
    for q in preset_questions():  # the questions are data: each preset file carries its own
        with st.container(border=True):
            st.subheader(q.question)
            st.caption(f"Preset **{q.preset}** on the sample **{q.sample}**")
            st.markdown(q.look_for)
            if st.button("Open in Compare", key=f"start_{q.preset}", icon=":material/arrow_forward:", type="primary"):
                open_question(q.preset, q.sample)
                st.switch_page(COMPARE_PAGE, query_params=to_params(state.session(), "compare"))
    s = state.session()
    st.caption(
        f"Current view: {md(s.input_label)} · {len(s.variants)} variants · model "
        f"{s.model}. The address bar reproduces it; uploaded files cannot travel in a link."
    )


main()
