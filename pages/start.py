"""Start page: what prepscope answers; after an upload, what the network makes of it at once; guided questions (kept
in the preset files) that open Compare, or the page where their effect shows best; and the two jobs without a
preset: checking a labelled dataset and feeding a sound to an image network."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import results, shell, state
from components.session import ACCURACY_SOURCES, SOUND_PREFIX, to_params
from components.text import md
from core.io.synth import SOUND_CLASSES
from core.preprocess.presets import PresetQuestion, get_preset, preset_questions

shell.guard()

PAGE_FILES = {"compare": "pages/compare.py", "feature_maps": "pages/feature_maps.py",
              "activations": "pages/activations.py", "audio": "pages/audio.py", "accuracy": "pages/accuracy.py"}
ACCURACY_HOWTO = (
    "**Checking a labelled dataset.** The Accuracy page is set to the built-in handwritten digits (1,797 gray 8×8 "
    "images, 10 classes); pick your own folder or zip under Dataset. Press Run sweep: every variant of the sidebar's "
    "set is scored on the same test items. Look at the accuracy column with its 95% interval and McNemar's p against "
    "the reference (the first row): a difference counts when p is small *and* the intervals say it matters; the power "
    "notes say what the test size can show. The item table lists what each variant breaks or fixes.")


def open_question(preset: str, sample: str) -> None:
    """Set the sample and the preset for a guided question (the caller then switches page)."""
    state.set_sample(sample)
    state.set_variants(get_preset(preset))


def open_where(q: PresetQuestion) -> None:
    """Open the question's preset and sample on the page where its effect shows best, with that page's switches."""
    open_question(q.preset, q.sample)
    for key, value in q.where.options:
        state.set_page_option(key, value)
    state.set_guide(q.where.page, q.where.text)
    st.switch_page(PAGE_FILES[q.where.page], query_params=to_params(state.session(), q.where.page))


def render_upload_answer() -> None:
    """After an upload: the input, the reference's top-5 and one line on how far the variants move it, with a link
    to Compare."""
    s = state.session()
    result = results.guarded(state.run_inspect)
    ref = result.variants[0]
    with st.container(border=True, key="start_upload"):
        st.subheader(md(f"What the network makes of {s.upload.name}"))
        c1, c2 = st.columns([1, 2])
        c1.image(np.clip(ref.display, 0.0, 1.0), caption=md(f"{ref.variant.name} (reference)"), width="stretch")
        with c2:
            st.markdown(f"**Reference {md(results.top1_text(ref))}**")
            st.caption("  \n".join(f"{i + 1}\\. {md(p.label)} — {100 * p.prob:.1f}%" for i, p in enumerate(ref.top5)))
            st.markdown(md(results.upload_summary(result)))
            st.page_link("pages/compare.py", label="See every variant side by side in Compare",
                         icon=":material/compare:", query_params=to_params(s, "compare"))


def render_question(q: PresetQuestion) -> None:
    """One guided question: the question, its preset and sample, what to look for, and two ways in."""
    with st.container(border=True, key=f"start_q_{q.preset}"):
        st.markdown(f"**{md(q.question)}**")
        st.caption(f"Preset **{md(q.preset)}** on the sample **{md(q.sample)}**")
        st.markdown(md(q.look_for))
        c1, c2 = st.columns(2)
        if c1.button("Open in Compare", key=f"start_{q.preset}", icon=":material/arrow_forward:", type="primary"):
            open_question(q.preset, q.sample)
            st.switch_page(PAGE_FILES["compare"], query_params=to_params(state.session(), "compare"))
        if q.where is not None:
            if c2.button("Where to look", key=f"start_where_{q.preset}", icon=":material/visibility:",
                         help=q.where.text):
                open_where(q)
            st.caption(md(f"Where to look: {q.where.text}"))


def render_jobs() -> None:
    """The two jobs that are not a preset question: a labelled dataset, a sound."""
    c1, c2 = st.columns(2)
    with c1, st.container(border=True, key="start_job_dataset"):
        st.markdown("**Check my labelled dataset**")
        st.markdown("Broken, duplicate or mislabelled files, test items leaking from training, file metadata that "
                    "predicts the label, what the recipe does to your set: Dataset check. Then Accuracy: does a "
                    "preprocessing choice change what the network can tell apart in *your* data?")
        b1, b2 = st.columns(2)
        if b1.button("Open Dataset check", key="start_check", icon=":material/fact_check:", type="primary"):
            st.switch_page("pages/check.py", query_params=to_params(state.session(), "check"))
        if b2.button("Open Accuracy", key="start_accuracy", icon=":material/target:"):
            state.set_accuracy(source=ACCURACY_SOURCES[0], builtin="digits")
            state.session().accuracy_notice = ACCURACY_HOWTO
            st.switch_page(PAGE_FILES["accuracy"], query_params=to_params(state.session(), "accuracy"))
    with c2, st.container(border=True, key="start_job_sound"):
        st.markdown("**A sound into an image network**")
        st.markdown("A sound becomes a spectrogram image first. Opens Audio on a built-in sound with the "
                    "spectrogram preset: gray, summed first conv and colormaps, each stretched to the network's size.")
        if st.button("Open Audio", key="start_audio", icon=":material/graphic_eq:", type="primary"):
            state.set_sample(SOUND_PREFIX + SOUND_CLASSES[0])
            state.set_variants(get_preset("spectrogram"))
            st.switch_page(PAGE_FILES["audio"], query_params=to_params(state.session(), "audio"))


def main() -> None:
    """Render the Start page."""
    st.title("prepscope")
    st.markdown(
        "**What does this preprocessing choice do to the model?** prepscope runs one image or sound through "
        "several preprocessing *variants* at once (colormap, storage, resizing library and interpolation, "
        "resolution, channel strategy, normalization, compression, noise) and shows, side by side, what a "
        "convolutional network makes of each: its predictions, its feature maps layer by layer, its activation "
        "statistics, and its accuracy on a dataset. The first variant of the set is the reference."
    )
    s = state.session()
    if s.source == "upload" and s.upload is not None:
        render_upload_answer()
    st.markdown("Choose a model, an input and a variant set in the sidebar, or start from a question or a job.")
    render_jobs()
    questions = preset_questions()  # the questions are data: each preset file carries its own
    for start in range(0, len(questions), 2):
        for col, q in zip(st.columns(2), questions[start:start + 2], strict=False):
            with col:
                render_question(q)
    st.caption(
        f"Current view: {md(s.input_label)} · {len(s.variants)} variants · model "
        f"{s.model}. The address bar reproduces it; uploaded files cannot travel in a link."
    )


main()
