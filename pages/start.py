"""Start page: what prepscope answers, and guided questions that open Compare with a preset and a sample."""

from __future__ import annotations

import streamlit as st

from components import shell, state
from components.session import to_params
from core.preprocess.presets import get_preset

shell.guard()

COMPARE_PAGE = "pages/compare.py"
#: The guided questions, as data: (question, preset, sample, what to look for).
QUESTIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "A grayscale image into an RGB-pretrained network",
        "channels",
        "camera",
        "The network was trained on color photos; a one-channel image has to become three channels somehow. "
        "Compare gray copied to three channels, the first convolution's weights summed over color, and false "
        "color through colormaps. Look at whether the top-1 class and its probability hold, and at the "
        "similarity of each layer to the reference: a colormap invents color the network reads as content, "
        "so its early layers drift furthest from the gray versions.",
    ),
    (
        "Which interpolation when resizing?",
        "interpolation",
        "brick",
        "A repetitive texture is where resizing goes wrong: without antialiasing, shrinking a fine pattern "
        "aliases it into coarser false stripes. Compare torch and PIL, bicubic, bilinear, nearest, lanczos and "
        "area, with and without antialias. Look at the first layers' feature maps and statistics: the aliased "
        "variants light up different edge detectors even when the top-1 class does not change.",
    ),
    (
        "Colormaps for one-channel data",
        "colormaps",
        "camera",
        "Spectrograms, depth maps and medical images are one-channel; a colormap is a choice, not a neutral "
        "display. Compare perceptually uniform maps (viridis, magma, cividis) with rainbow maps (jet, turbo) "
        "against gray replicated. Look at the activation statistics: rainbow maps create strong color edges "
        "where the data changes smoothly, and the early layers respond to them.",
    ),
)


def open_question(preset: str, sample: str) -> None:
    """Set the sample and the preset for a guided question (the caller then switches to Compare)."""
    state.set_sample(sample)
    state.set_variants(get_preset(preset))


def main() -> None:
    """Render the Start page."""
    st.title("prepscope")
    st.markdown(
        "**What does this preprocessing choice do to the model?** prepscope runs one image or sound through "
        "several preprocessing *variants* at once (colormap, interpolation, channel strategy, normalization, "
        "compression, noise) and shows, side by side, what a convolutional network makes of each: its "
        "predictions, its feature maps layer by layer, its activation statistics, and its accuracy on a dataset. "
        "The first variant of the set is the reference the others are compared to."
    )
    st.markdown(
        "Choose a model, an input and a variant set in the sidebar, or start from one of these questions."
    )
    for i, (question, preset, sample, paragraph) in enumerate(QUESTIONS):
        with st.container(border=True):
            st.subheader(question)
            st.caption(f"Preset **{preset}** on the sample **{sample}**")
            st.markdown(paragraph)
            if st.button("Open in Compare", key=f"start_q{i}", icon=":material/arrow_forward:", type="primary"):
                open_question(preset, sample)
                st.switch_page(COMPARE_PAGE, query_params=to_params(state.session()))
    s = state.session()
    st.caption(
        f"Current view: {s.input_label} · {len(s.variants)} variants · model "
        f"{s.model}. The address bar reproduces it; uploaded files cannot travel in a link."
    )


main()
