"""Audio: a sound as the network sees it. Waveform and player, spectrogram settings applied to every
variant, the variants side by side with their predictions, and the same feature-map and statistics
views as for images."""

import streamlit as st

from components import charts, exports, results, shell, state
from components.session import SOUND_PREFIX
from components.text import md
from core.io import synth
from core.models import MODELS
from core.preprocess.presets import get_preset
from core.preprocess.recipe import resolve
from core.preprocess.variant import Resize, Spectrogram

shell.guard()

st.title("Audio")
st.caption(
    "A sound becomes a one-channel spectrogram image (low frequencies at the bottom), then goes through "
    "each variant's channel strategy, resize and normalization like any image."
)

signal = results.guarded(state.get_signal)
with st.expander("Sound input: built-in clip or upload", expanded=signal.audio is None):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    clip = c1.selectbox("Built-in clip (synthesized, deterministic)", list(synth.SOUND_CLASSES), key="audio_clip")
    if c2.button("Load clip", key="audio_load_clip"):
        results.guarded(lambda: state.set_sample(SOUND_PREFIX + clip))
        st.rerun()
    upload_key = state.uploader_key("audio_upload")
    st.file_uploader(
        "Upload a sound (WAV, FLAC, OGG, MP3)", type=["wav", "flac", "ogg", "mp3"], key=upload_key,
        help="It becomes the shared input of every page.",
    )
    before = state.session().input_label
    message = state.take_upload(upload_key)
    if message:
        st.error(md(message))
    elif state.session().input_label != before:
        st.rerun()

label = state.session().input_label
if signal.audio is None:
    st.info(
        f"The current input ({md(label)}) is an image, not a sound. Load a built-in clip here, or upload a "
        "WAV/FLAC/OGG file above or in the sidebar."
    )
    if st.button(f"Load the built-in sound '{synth.SOUND_CLASSES[0]}'", type="primary", key="audio_load_default"):
        results.guarded(lambda: state.set_sample(SOUND_PREFIX + synth.SOUND_CLASSES[0]))
        st.rerun()
    st.stop()

wave, sr = signal.audio
c1, c2 = st.columns([3, 1], vertical_alignment="center")
c1.plotly_chart(charts.waveform_figure(wave, sr), width="stretch", key="audio_wave")
c2.audio(wave, sample_rate=sr)
c2.caption(f"{md(label)} · {len(wave) / sr:.2f} s · {sr} Hz")

variants = state.session().variants
resolved = resolve(variants, MODELS[state.session().model])  # "resize": "model" is the model's (cropping) recipe
cropped = [v.name for v in resolved if v.resize.fit == "shorter-side+center-crop"]
if cropped:
    st.warning(
        f"{len(cropped)} of {len(variants)} variants use the fit 'shorter-side+center-crop', which keeps only the "
        "middle of the spectrogram's longer axis (usually time). The 'spectrogram' preset stretches the whole "
        "spectrogram to the network's size instead."
    )
    if st.button("Use the spectrogram preset", key="audio_use_preset"):
        results.guarded(lambda: state.set_variants(get_preset("spectrogram")))
        st.rerun()

notice = results.analysis_rate_notice(variants, int(sr))
if notice:
    st.warning(notice, icon=":material/graphic_eq:")
    if st.button(f"Analyse at {sr} Hz (every variant)", key="audio_use_file_rate", icon=":material/tune:"):
        results.guarded(lambda: state.set_variants(results.at_file_rate(variants, int(sr))))
        st.rerun()

spec_col, fit_col = st.columns([3, 2])
with spec_col:
    st.subheader("Spectrogram settings")
    current, uniform = results.shared_spectrogram(variants)
    if not uniform:
        st.caption("The variants use different spectrogram settings; the form starts from the reference's.")
    new_spec = results.render_spec_form(Spectrogram, current, key="audio_spec", columns=3)
    if new_spec is not None and (new_spec != current or not uniform):
        results.guarded(lambda: state.set_variants(results.with_spectrogram(variants, new_spec)))
        st.rerun()
with fit_col:
    st.subheader("Resize and fit")
    current_fit, uniform_fit = results.shared_resize(variants, MODELS[state.session().model])
    st.caption("stretch keeps the whole spectrogram (time and frequency); shorter-side+center-crop keeps only the "
               "middle of the longer axis." + ("" if uniform_fit else " The variants differ; the form starts from "
                                                                      "the reference's."))
    new_fit = results.render_spec_form(Resize, current_fit, key="audio_fit", columns=2)
    if new_fit is not None and (new_fit != current_fit or not uniform_fit):
        results.guarded(lambda: state.set_variants(results.with_resize(variants, new_fit)))
        st.rerun()

result = results.guarded(state.run_inspect)
results.render_provenance(result, label)
same = results.same_input_groups(result)
view = results.merge_same_inputs(result, same)  # identical network inputs as one variant "a = b", as on Compare
tab_inputs, tab_maps, tab_stats = st.tabs(["Inputs & predictions", "Feature maps", "Statistics"])
with tab_inputs:
    results.render_same_inputs(same)
    results.render_variant_grid(view)
    if len(view.variants) > 1:
        results.render_differences(view, results.DIFF_SCALES[0])
    results.render_similarity_summary(view)
with tab_maps:
    layer, k, diff = results.render_feature_map_controls(result, prefix="audio_fm_")
    results.render_feature_maps(result, layer, k, diff, key="audio_fm_chart")
with tab_stats:
    table = results.render_statistics(result, key="audio_stats")
panels = exports.ComparePanels(differences=results.DIFF_SCALES[0])  # as the Inputs tab shows them
exports.render_downloads(result, label, table=table, key="audio_export", png_name="audio",
                         png=lambda prov: exports.comparison_png(view, prov, panels=panels),
                         settings={"identical inputs": "; ".join(g.label for g in same)} if same else None,
                         figure="Audio: spectrograms as the network receives them, with top-1",
                         identical=[g.record(result) for g in same])
