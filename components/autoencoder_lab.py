"""The Autoencoder lab page's pieces: the learned-gray experiment, the single-noisy-image experiment and the
saved models, each trained as a job of the server (progress and a Stop button, ``components.running``); the
numbers come from ``core.autoencode``.

Pure helpers (tables, figures, images; no ``st.*``) come first, ``render_*`` functions after. Page state
keys start with ``ael_``; the last result of each experiment survives reruns in the session state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import running, shared, state, sweep_charts
from components.charts import PALETTE, log_axis_ticks
from components.running import Progress, ShouldStop
from components.text import md
from core.autoencode.gray import GrayConfig, GrayResult, collect_images, isoluminant_pattern, rule_variants, train_gray
from core.autoencode.single import REGIMES, SingleConfig, SingleResult, builtin_texture, lab_card, train_single
from core.errors import InvalidVariant, PrepscopeError, page_message
from core.evaluate.datasets import DatasetRequest, data_root, list_data_folders, open_request, resolve_data_folder
from core.evaluate.sweep import SweepResult, evaluate_sweep
from core.io import load_input
from core.jobs import Job, JobResult
from core.learned import store
from core.preprocess.variant import MAX_VARIANTS, Variant
from core.shared import public_json, public_path

GRAY_SOURCES = ("Built-in photos", "Folder under the data root", "Upload a zip")
SINGLE_SOURCES = ("Built-in noisy texture", "The sidebar's current input", "Upload an image")
PREFILTERS = ("nl_means", "tv_chambolle", "wavelet", "bilateral")
REGIME_HELP = {
    "plain": "the whole image is input and target at every step",
    "augmented": "random crops, flips and 90° rotations",
    "prefiltered": "trained on the image after a denoiser",
    "blindspot": "Noise2Self masking: each pixel predicted from its neighbours only",
}

# ----------------------------------------------------------------------------- pure helpers


def gray_frame(result: GrayResult) -> pd.DataFrame:
    """One row per gray rule: reconstruction PSNR with its interval and the isoluminant contrast."""
    return pd.DataFrame([{"rule": s.rule, "reconstruction PSNR (dB)": s.reconstruction_psnr,
                          "95% CI low": s.psnr_ci95[0], "95% CI high": s.psnr_ci95[1],
                          "isoluminant contrast": result.isoluminant[s.rule], "held-out images": len(s.per_image)}
                         for s in result.rules])


def single_frame(result: SingleResult) -> pd.DataFrame:
    """One row per regime with the issue's columns first."""
    return pd.DataFrame([{"regime": r.name, "PSNR vs clean": r.psnr_vs_clean, "PSNR vs input": r.psnr_vs_input,
                          "SSIM vs clean": r.ssim_vs_clean, "SSIM vs input": r.ssim_vs_input,
                          "aligned-crop MSE": r.aligned_crop_mse,
                          "shifted-crop MSE": r.shifted_crop_mse, "corr(residual, noise)": r.residual_noise_corr,
                          "seconds": r.seconds} for r in result.regimes])


def curves_figure(series: dict[str, list[float]], title: str, y_title: str, *, log_y: bool = True,
                  x: dict[str, list[int]] | None = None) -> go.Figure:
    """One line per named series (loss per step, or PSNR along training)."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(series.items()):
        xs = x[name] if x else list(range(1, len(ys) + 1))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, line={"color": PALETTE[i % len(PALETTE)]}))
    fig.update_layout(title=title, height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis_title="step", yaxis_title=y_title, legend={"orientation": "h", "y": -0.25})
    if log_y:
        positive = [y for ys in series.values() for y in ys if y is not None and y > 0]
        vals, labels = log_axis_ticks(min(positive), max(positive)) if positive else ([], [])
        fig.update_yaxes(type="log", **({"tickvals": vals, "ticktext": labels} if vals else {}))
    return fig


def single_reading(result: SingleResult, *, margin_db: float = 0.5) -> list[str]:
    """What the single-image table shows, in sentences built from its numbers: which regimes denoise the image
    (their output closer to the clean image than the noisy input is) and by how much, and which have started to learn
    the noise (PSNR vs clean along training fell more than ``margin_db`` from its peak: trained longer, a CAE on one
    image fits its noise). Without the clean image, only the closeness to the noisy input can be read."""
    regimes = result.regimes
    base = result.input_psnr_vs_clean()
    if base is None or any(r.psnr_vs_clean is None for r in regimes):
        closest = max(regimes, key=lambda r: r.psnr_vs_input)
        return [f"Without the clean image the table cannot say whether a regime denoises: it shows only how close "
                f"each output stays to the noisy input, closest {closest.name} ({closest.psnr_vs_input:.1f} dB PSNR "
                "vs input); the closer an output is to the input, the more of its noise it keeps."]
    better = sorted((r for r in regimes if r.psnr_vs_clean > base), key=lambda r: -r.psnr_vs_clean)
    worse = [r for r in regimes if r.psnr_vs_clean <= base]
    gains = ", ".join(f"{r.name} {r.psnr_vs_clean:.1f} dB (+{r.psnr_vs_clean - base:.1f})" for r in better)
    if better and not worse:
        first = f"Every regime denoises this image: against the clean image the noisy input scores {base:.1f} dB; "
        first += f"{gains}."
    elif better:
        first = (f"Against the clean image the noisy input scores {base:.1f} dB; {gains} "
                 f"{'denoises' if len(better) == 1 else 'denoise'} it, while "
                 + ", ".join(f"{r.name} ({r.psnr_vs_clean:.1f} dB)" for r in worse)
                 + (" does not." if len(worse) == 1 else " do not."))
    else:
        first = (f"No regime denoises this image: against the clean image the noisy input scores {base:.1f} dB and "
                 "every output less (" + ", ".join(f"{r.name} {r.psnr_vs_clean:.1f} dB" for r in regimes) + ").")
    out = [first]
    fitting = []
    for r in regimes:
        points = [(t["step"], t["psnr_vs_clean"]) for t in r.track if t.get("psnr_vs_clean") is not None]
        if len(points) < 2:
            continue
        step, peak = max(points, key=lambda p: p[1])
        if peak - points[-1][1] > margin_db:
            fitting.append(f"{r.name} peaked at {peak:.1f} dB at step {step} and ended at {points[-1][1]:.1f} dB")
    steps = result.config.steps
    if fitting:
        out.append("Trained longer, a CAE on one noisy image learns its noise (it over-fits the one image): "
                   + "; ".join(fitting) + f" after {steps} steps. On a single image the number of steps is the "
                   "regularizer.")
    else:
        out.append(f"Within {steps} steps none has started to learn the noise (PSNR vs clean along training is "
                   f"within {margin_db:g} dB of its peak at the end): a small CAE fits the image's repeated structure "
                   "before its noise. Trained long enough it fits the noise too, and PSNR vs clean falls; the curve on "
                   "the right shows when.")
    return out


def residual_image(residual: np.ndarray, scale: float) -> np.ndarray:
    """A residual (output - input) shown on one symmetric scale: 0.5 gray = 0, white = +scale, black = -scale."""
    return np.clip(0.5 + residual / (2 * max(scale, 1e-6)), 0.0, 1.0).astype(np.float32)


def residual_scale(result: SingleResult) -> float:
    """The shared scale of the residual images: the 99th percentile of |residual| over every regime."""
    return float(max(np.percentile(np.abs(r.residual), 99) for r in result.regimes))


def gray_variant(rule: str) -> dict:
    """The variant "use this gray" adds: gray replicated, by the rule."""
    return {"name": rule, "channels": "replicate", "gray": rule}


def denoiser_variant(name: str) -> dict:
    """The variant "use this denoiser" adds: the lab denoiser at source resolution."""
    return {"name": f"denoise learned:{name}", "denoise": [{"kind": "learned", "model": name}]}


# ----------------------------------------------------------------------------- running with progress and stop


STOPPED = "Training stopped; nothing was saved."
PROBE_STOPPED = "Probe sweep stopped; nothing of it was kept."


def _stopped(key: str) -> None:
    state.session().lab.notices[key] = PROBE_STOPPED if key == "ael_p" else STOPPED


def _submit(key: str, kind: str, label: str, settings: dict, work: Callable[[Progress, ShouldStop], Any],
            message: Callable[[Any], str], ref: Callable[[Any], dict] | None = None) -> None:
    """Start ``work(progress, should_stop)`` as a job of the server (``components.running``) that this tab follows
    under ``key``; ``message(value)`` is its closing line and ``ref(value)`` what it saved."""
    state.session().lab.notices.pop(key, None)

    def job(progress: Progress, should_stop: ShouldStop) -> JobResult:
        value = work(progress, should_stop)
        return JobResult(value, ref={} if ref is None else ref(value), message=message(value))

    running.submit(key, kind, settings, job, what=label.rstrip("…"))


def _render_job(key: str, label: str, on_finish: Callable[[Any], None]) -> None:
    """The job of ``key`` this tab follows: progress and Stop while it runs; ``on_finish(value)`` takes a finished
    job's result into the session (a stop leaves the notice)."""
    def finished(job: Job, value: Any) -> None:
        if job.status == "stopped":
            _stopped(key)
        elif value is not None:
            on_finish(value)
        elif job.status == "done":  # never a closed "done" with nothing under it
            state.session().lab.notices[key] = not_held(job)

    running.render_job(key, running.follow(key), label, on_finish=finished, on_stop=partial(_stopped, key),
                       stopped_message=False)


def not_held(job: Job) -> str:
    """The notice for a finished lab job whose result object this server does not hold (another server process ran
    it, or newer jobs took its place in memory): what it left, and where to find it."""
    model = (job.result or {}).get("model")
    where = (f"the model learned:{model} is under Saved models." if model else
             "nothing of it was saved; run it again to see its result.")
    return (f"Job #{job.id} finished ({job.message.rstrip('.')}), but this server no longer holds its result, so it "
            f"cannot be shown here; {where}")


def _append_variant(data: dict) -> None:
    s = state.session()
    if len(s.variants) >= MAX_VARIANTS:
        state.session().lab.message = ("error", f"At most {MAX_VARIANTS} variants at once; remove one first.")
        return
    try:
        v = Variant.from_dict({**data, "name": s.variants.unique_name(data["name"])})
        state.set_variants(s.variants.appended(v))
    except InvalidVariant as e:
        state.session().lab.message = ("error", page_message(e))
        return
    state.session().lab.message = ("success", f"Added the variant '{v.name}' to the variant set (sidebar).")


def _use_message() -> None:
    lab = state.session().lab
    msg, lab.message = lab.message, None
    if msg:
        (st.success if msg[0] == "success" else st.error)(md(msg[1]))


def _model_downloads(name: str, key: str) -> None:
    """Download buttons for a saved model's state_dict and card."""
    w, c = store.paths(name)
    if not (w.is_file() and c.is_file()):
        return
    c1, c2 = st.columns(2)
    c1.download_button(f"Model {w.name} (state_dict)", w.read_bytes(), file_name=w.name,
                       mime="application/octet-stream", key=f"{key}_dl_w", icon=":material/download:",
                       on_click="ignore")
    c2.download_button(f"Card {c.name}", c.read_bytes(), file_name=c.name, mime="application/json",
                       key=f"{key}_dl_c", icon=":material/download:", on_click="ignore")


# ----------------------------------------------------------------------------- learned gray


def render_gray() -> None:
    """The learned-gray experiment: data, settings, train, and the comparison with the luma rules."""
    st.markdown("An encoder squeezes color into one gray channel; a decoder reconstructs color from it. The "
                "encoder is pointwise, so it is a gray *rule* like 601 luma. Each rule is then judged by a fresh "
                "decoder of the same architecture trained on its gray (same seed, crops and steps).")
    left, right = st.columns(2)
    with left:
        source = state.bound_widget(st.radio, "Images", "ael_g_source", GRAY_SOURCES[0], options=GRAY_SOURCES,
                                    horizontal=True)
        folder = upload = None
        if source == GRAY_SOURCES[1]:
            root = data_root()
            names = list_data_folders(root)
            if names:
                folder = state.bound_widget(st.selectbox, f"Folder under {public_path(root)}", "ael_g_folder",
                                            names[0], options=names)
                sub = state.bound_widget(st.text_input, "Subfolder (optional)", "ael_g_sub", "",
                                         placeholder="e.g. train")
            else:
                st.info("No data root: set PREPSCOPE_DATA_ROOT to a folder of datasets, or upload a zip.")
        elif source == GRAY_SOURCES[2]:
            upload = st.file_uploader("Zip of color images", type=["zip"], key="ael_g_upload")
        name = state.bound_widget(st.text_input, "Model name (the rule becomes learned:NAME)", "ael_g_name", "gray1",
                                  max_chars=48)
    defaults = GrayConfig()
    with right:
        c1, c2, c3 = st.columns(3)
        epochs = int(state.bound_widget(c1.number_input, "Epochs", "ael_g_epochs", defaults.epochs, min_value=1,
                                        max_value=1000))
        luma_w = float(state.bound_widget(c2.number_input, "Luma weight", "ael_g_luma", float(defaults.luma_weight),
                                          min_value=0.0, max_value=100.0, step=0.05,
                                          help="Keeps the gray close to 601 luma so it still looks like a photo."))
        seed = int(state.bound_widget(c3.number_input, "Seed", "ael_g_seed", 0, min_value=0, max_value=2**31 - 1))
        refused = shared.refused_line("overwriting a saved model")
        overwrite = st.checkbox("Overwrite a model of the same name", key="ael_g_overwrite",
                                disabled=bool(refused)) and not refused
        if refused:
            st.caption(refused)
        st.caption(f"Models folder: {md(public_path(store.models_dir()))}")
    if st.button("Train learned gray", type="primary", key="ael_g_train", icon=":material/play_arrow:"):
        cfg = replace(defaults, epochs=epochs, luma_weight=luma_w, seed=seed)
        path = None
        if source == GRAY_SOURCES[1] and folder:
            path = resolve_data_folder(data_root(), folder + ("/" + sub.strip("/") if sub.strip() else ""))
        zip_bytes = upload.getvalue() if upload is not None else None
        model_name = name.strip()
        try:
            store.check_new(model_name, overwrite=overwrite)
            taken = None
        except PrepscopeError as e:  # refused now, not after waiting in the queue
            taken = page_message(e)
        if source == GRAY_SOURCES[2] and zip_bytes is None:
            st.error("Upload a zip of color images first.", icon=":material/upload_file:")
        elif taken:
            st.error(f"Not started: {md(taken)}", icon=":material/error:")
        else:

            def work(progress: Progress, should_stop: ShouldStop) -> tuple[GrayResult, str | None]:
                data = collect_images(path, "photos" if source == GRAY_SOURCES[0] else None, side=cfg.side,
                                      seed=cfg.seed, zip_bytes=zip_bytes, progress=progress, should_stop=should_stop)
                result = train_gray(data, model_name, cfg, overwrite=overwrite, progress=progress,
                                    should_stop=should_stop)
                return result, str(path) if path else None

            _submit("ael_g", "training", "Training the learned gray rule…",
                    {"experiment": "learned gray", "name": model_name, "epochs": epochs, "luma_weight": luma_w,
                     "seed": seed, "images": public_path(path) if path else source},
                    work, message=lambda v: f"Done in {v[0].seconds:.1f} s — learned:{v[0].name}"
                                            + (" saved." if v[0].saved else " (not saved)."),
                    ref=lambda v: {"model": v[0].name if v[0].saved else None})

    def took_gray(value: tuple[GrayResult, str | None]) -> None:
        lab = state.session().lab
        lab.gray_result, lab.gray_dataset, lab.probe_result = value[0], value[1], None

    _render_job("ael_g", "Training the learned gray rule…", took_gray)
    lab = state.session().lab
    if lab.notices.get("ael_g"):
        st.info(lab.notices["ael_g"])
    if lab.gray_result is not None:
        render_gray_result(lab.gray_result)
    else:
        _probe_job(title=True)


def render_gray_result(result: GrayResult) -> None:
    """The comparison table, the isoluminant pattern, held-out reconstructions, losses, downloads, use."""
    st.subheader(md(f"learned:{result.name} vs the luma rules"))
    st.dataframe(gray_frame(result), hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(c, format="%.3f" if "contrast" in c else "%.2f")
        for c in ("reconstruction PSNR (dB)", "95% CI low", "95% CI high", "isoluminant contrast")})
    st.caption("Reconstruction PSNR: mean per held-out image of the color reconstructed from the rule's gray "
               "(95% bootstrap interval over images). Isoluminant contrast: standard deviation of the gray of 8 "
               "colors of equal 601 luma (0 = the rule cannot tell them apart). "
               f"Data: {md(public_path(result.data['source']))} ({result.data['n_images']} color images, digest "
               f"{result.data['digest'][:12]}; {result.n_train} train / {result.n_test} held out) · "
               f"{result.config.epochs} epochs · seed {result.config.seed} · {result.seconds:.1f} s")
    pattern = isoluminant_pattern()
    rules = [s.rule for s in result.rules]
    st.markdown("**Isoluminant pattern** (8 colors, equal 601 luma) and its gray under each rule")
    cols = st.columns(len(rules) + 1)
    cols[0].image(pattern, caption="color", clamp=True, width="stretch")
    for col, rule in zip(cols[1:], rules, strict=True):
        col.image(result.gray_of(rule, pattern), caption=f"{rule} · contrast {result.isoluminant[rule]:.3f}",
                  clamp=True, width="stretch")
    if result.examples:
        st.markdown("**A held-out image**: its gray under each rule, and the color that rule's decoder reconstructs")
        rgb = result.examples[0].astype(np.float32) / 255.0
        cols = st.columns(len(rules) + 1)
        cols[0].image(rgb, caption="original", clamp=True, width="stretch")
        for col, rule in zip(cols[1:], rules, strict=True):
            col.image(result.gray_of(rule, rgb), caption=f"gray {rule}", clamp=True, width="stretch")
            col.image(result.reconstruct(rule, rgb), caption=f"color from {rule}", clamp=True, width="stretch")
    st.plotly_chart(curves_figure({"joint (encoder + decoder)": result.losses,
                                   **{f"decoder on {s.rule}": s.losses for s in result.rules}},
                                  "Training loss per step", "MSE"), width="stretch", key="ael_g_loss")
    if result.saved:
        _model_downloads(result.name, "ael_g")
    c1, c2 = st.columns(2)
    c1.download_button("Results (JSON)", public_json(result.to_dict()), file_name=f"{result.name}-gray.json",
                       mime="application/json", key="ael_g_dl_json", icon=":material/download:", on_click="ignore")
    c2.button("Use this gray in my variants", key="ael_g_use", icon=":material/add:", on_click=_append_variant,
              args=(gray_variant(result.rule_name),), disabled=not result.saved)
    _use_message()
    dataset = state.session().lab.gray_dataset
    if dataset:
        render_probe(result, dataset)
    else:
        _probe_job(title=True)


def render_probe(result: GrayResult, dataset: str) -> None:
    """Probe accuracy per rule on the labelled folder the rule was trained on (a sweep with intervals)."""
    st.markdown(f"**Probe accuracy per rule** on {dataset} (needs class subfolders)")
    if st.button("Run probe per rule", key="ael_probe_run", icon=":material/target:"):
        model = state.get_model()

        def work(progress: Progress, should_stop: ShouldStop) -> SweepResult:
            with open_request(DatasetRequest(path=dataset, seed=result.config.seed)) as (train, test):
                return evaluate_sweep(train, rule_variants(result.name), model, test=test,
                                      method="probe", seed=result.config.seed, progress=progress,
                                      should_stop=should_stop)

        _submit("ael_p", "sweep", "Probe sweep over the gray rules…",
                {"experiment": "probe per gray rule", "rule": result.name, "dataset": public_path(dataset)}, work,
                message=lambda v: f"Done in {v.seconds:.1f} s.")
    _probe_job()


def _probe_job(title: bool = False) -> None:
    """The probe job this tab follows (also in a tab without the gray result: a reload, another tab, the Runs
    page's Open; ``title`` then heads it), its notice and the probe's result."""
    def took_probe(value: SweepResult) -> None:
        state.session().lab.probe_result = value

    lab = state.session().lab
    if title and (lab.probe_result is not None or running.follow("ael_p") is not None):
        st.markdown("**Probe accuracy per rule**")
    _render_job("ael_p", "Probe sweep over the gray rules…", took_probe)
    if lab.notices.get("ael_p"):
        st.info(lab.notices["ael_p"])
    sweep = lab.probe_result
    if sweep is not None:
        st.dataframe(sweep_charts.results_frame(sweep), hide_index=True, width="stretch")
        st.caption("Accuracy micro with 95% Wilson intervals; McNemar p vs 601. Provenance: "
                   + md(sweep.provenance_line()))


# ----------------------------------------------------------------------------- single image


def _single_input(source: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    if source == SINGLE_SOURCES[0]:
        noisy, clean = builtin_texture()
        return noisy, clean, {"name": "builtin:texture", "noise_sigma": 0.1}
    if source == SINGLE_SOURCES[1]:
        sig = state.get_signal()
        if sig.audio is not None:
            raise PrepscopeError("The sidebar's current input is a sound; choose an image or the built-in texture.")
        label = state.session().input_label
    else:
        up = st.session_state.get("ael_s_upload")
        if up is None:
            raise PrepscopeError("Upload an image first.")
        sig, label = load_input(up.getvalue(), name=up.name), up.name
    clean = None
    cup = st.session_state.get("ael_s_clean")
    if cup is not None:
        clean = load_input(cup.getvalue(), name=cup.name).array
    return sig.array, clean, {"name": label, "digest": sig.digest}


def render_single() -> None:
    """The single-image experiment: image, regimes, settings, train, results side by side."""
    st.markdown("One noisy image, one small convolutional autoencoder, four ways to train it. The built-in texture "
                "is a repetitive colored pattern with Gaussian noise (σ = 0.1) whose clean version is known.")
    left, right = st.columns(2)
    with left:
        source = state.bound_widget(st.radio, "Image", "ael_s_source", SINGLE_SOURCES[0], options=SINGLE_SOURCES,
                                    horizontal=True)
        if source == SINGLE_SOURCES[2]:
            st.file_uploader("Noisy image (at most 512×512)", type=None, key="ael_s_upload")
        if source != SINGLE_SOURCES[0]:
            st.file_uploader("Its clean version, when known (same size)", type=None, key="ael_s_clean")
        regimes = state.bound_widget(st.multiselect, "Regimes", "ael_s_regimes", list(REGIMES), options=REGIMES)
        st.caption(" · ".join(f"**{r}**: {h}" for r, h in REGIME_HELP.items()))
    defaults = SingleConfig()
    with right:
        c1, c2, c3 = st.columns(3)
        steps = int(state.bound_widget(c1.number_input, "Steps per regime", "ael_s_steps", defaults.steps,
                                       min_value=1, max_value=20000, step=50))
        seed = int(state.bound_widget(c2.number_input, "Seed", "ael_s_seed", 0, min_value=0, max_value=2**31 - 1))
        prefilter = state.bound_widget(c3.selectbox, "Pre-filter", "ael_s_prefilter", PREFILTERS[0],
                                       options=PREFILTERS)
        st.caption(f"CAE: width {defaults.width}, bottleneck {defaults.bottleneck} channels at 1/4 resolution; "
                   f"Adam lr {defaults.lr:g}; blind-spot grid {defaults.grid}.")
    if st.button("Train the regimes", type="primary", key="ael_s_train", icon=":material/play_arrow:"):
        try:
            noisy, clean, src = _single_input(source)
        except PrepscopeError as e:
            st.error(md(page_message(e)), icon=":material/error:")
        else:
            cfg = replace(defaults, steps=steps, seed=seed, prefilter={"kind": prefilter})
            chosen = tuple(regimes)

            def work(progress: Progress, should_stop: ShouldStop) -> SingleResult:
                return train_single(noisy, clean, chosen, cfg, source=src, progress=progress,
                                    should_stop=should_stop)

            _submit("ael_s", "training", "Training the single-image autoencoders…",
                    {"experiment": "single image", "image": src.get("name"), "regimes": list(chosen), "steps": steps,
                     "seed": seed, "prefilter": prefilter}, work,
                    message=lambda v: f"Done in {v.seconds:.1f} s.")

    def took_single(value: SingleResult) -> None:
        state.session().lab.single_result = value

    _render_job("ael_s", "Training the single-image autoencoders…", took_single)
    lab = state.session().lab
    if lab.notices.get("ael_s"):
        st.info(lab.notices["ael_s"])
    if lab.single_result is not None:
        render_single_result(lab.single_result)


def render_single_result(result: SingleResult) -> None:
    """The regimes side by side: table, reconstructions, residuals, curves; save / download / use."""
    st.subheader("Regimes side by side")
    st.dataframe(single_frame(result), hide_index=True, width="stretch", column_config={
        "PSNR vs clean": st.column_config.NumberColumn(format="%.2f"),
        "PSNR vs input": st.column_config.NumberColumn(format="%.2f"),
        "SSIM vs clean": st.column_config.NumberColumn(format="%.3f"),
        "SSIM vs input": st.column_config.NumberColumn(format="%.3f"),
        "aligned-crop MSE": st.column_config.NumberColumn(format="%.5f"),
        "shifted-crop MSE": st.column_config.NumberColumn(format="%.5f"),
        "corr(residual, noise)": st.column_config.NumberColumn(format="%.3f"),
        "seconds": st.column_config.NumberColumn(format="%.1f")})
    base = result.input_psnr_vs_clean()
    st.caption((f"The noisy input itself: PSNR vs clean {base:.2f} dB. " if base is not None else "") +
               "PSNR/SSIM of the network's output for the whole image; crop MSE against the input crop on 8 crops "
               "aligned with the network's stride, then shifted by 1-3 px; corr(residual, noise): −1 = exactly the "
               f"noise removed. Image {result.source.get('name')} "
               f"{result.source['width']}×{result.source['height']} · {result.config.steps} steps · "
               f"seed {result.config.seed}.")
    st.markdown("**Reading it.** " + " ".join(md(line) for line in single_reading(result)))
    scale = residual_scale(result)
    cols = st.columns(len(result.regimes) + 1)
    cols[0].image(np.squeeze(result.noisy), caption="input", clamp=True, width="stretch")
    if result.clean is not None:
        cols[0].image(np.squeeze(result.clean), caption="clean", clamp=True, width="stretch")
    for col, r in zip(cols[1:], result.regimes, strict=True):
        col.image(np.squeeze(r.output), caption=f"{r.name}: output", clamp=True, width="stretch")
        col.image(np.squeeze(residual_image(r.residual, scale)), caption=f"{r.name}: residual", clamp=True,
                  width="stretch")
    st.caption(f"Residual = output − input on one scale for all regimes: mid-gray 0, white +{scale:.3f}, "
               f"black −{scale:.3f}.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(curves_figure({r.name: r.losses for r in result.regimes}, "Training loss per step", "MSE"),
                    width="stretch", key="ael_s_loss")
    if result.clean is not None:
        c2.plotly_chart(curves_figure({r.name: [t["psnr_vs_clean"] for t in r.track] for r in result.regimes},
                                      "PSNR vs clean along training", "dB", log_y=False,
                                      x={r.name: [t["step"] for t in r.track] for r in result.regimes}),
                        width="stretch", key="ael_s_track")
    st.download_button("Results (JSON)", public_json(result.to_dict()), file_name="single-image-lab.json",
                       mime="application/json", key="ael_s_dl_json", icon=":material/download:", on_click="ignore")
    st.markdown("**Keep one regime as a lab denoiser** (saved in the models folder with its card)")
    c1, c2, c3 = st.columns([2, 2, 3], vertical_alignment="bottom")
    regime = c1.selectbox("Regime", [r.name for r in result.regimes], key="ael_s_keep_regime")
    name = c2.text_input("Name", value=f"{regime}-denoiser", key="ael_s_keep_name", max_chars=48)
    c3.button("Save and use this denoiser in my variants", key="ael_s_use", icon=":material/add:",
              on_click=_save_and_use, disabled=not name.strip())
    _use_message()
    saved = state.session().lab.saved_denoiser
    if saved:
        _model_downloads(saved, "ael_s")


def _save_and_use() -> None:
    """Save the chosen regime's model as a lab denoiser (replacing a model of that name) and add it to the
    variants. A callback, so the sidebar drawn in the same run already shows the new variant; it reads the
    regime and name widgets as they are now (arguments bound at the previous run could be stale)."""
    result = state.session().lab.single_result
    regime = st.session_state.get("ael_s_keep_regime")
    name = str(st.session_state.get("ael_s_keep_name") or "")
    if result is None or regime is None:
        return
    refused = shared.refused_line("overwriting a saved model")
    if refused and store.exists(name.strip()):
        state.session().lab.message = ("error", f"A model named '{name.strip()}' already exists. {refused}")
        return
    try:
        with shared.as_visitor():
            store.save(result.regime(regime).model, lab_card(result, regime, name.strip()), overwrite=not refused)
    except PrepscopeError as e:
        state.session().lab.message = ("error", page_message(e))
        return
    state.session().lab.saved_denoiser = name.strip()
    _append_variant(denoiser_variant(name.strip()))


# ----------------------------------------------------------------------------- saved models


def render_models() -> None:
    """The models folder: every saved model with its card, and downloads."""
    cards, broken = store.scan_models()
    st.caption(f"Models folder: {md(public_path(store.models_dir()))} (set PREPSCOPE_MODELS_DIR to move it). "
               "Learned gray rules appear in the sidebar editor's gray choices; lab denoisers in its denoise and "
               "degrade kinds.")
    if broken:
        lines = "\n".join(f"- **{md(b.name)}**: {md(b.reason)}" for b in broken)
        st.warning(f"Not offered anywhere, because they cannot be used ({len(broken)}):\n\n{lines}",
                   icon=":material/broken_image:")
    if not cards:
        st.info("No saved models yet: train a learned gray rule or keep a single-image denoiser.")
        return
    st.dataframe(pd.DataFrame([{"name": c["name"], "task": c["task"], "created": c.get("created"),
                                "parameters": c.get("parameters"),
                                "data": (c.get("dataset") or {}).get("source") or (c.get("dataset") or {}).get("name"),
                                "seed": c.get("seed")} for c in cards]), hide_index=True, width="stretch")
    name = st.selectbox("Model", [c["name"] for c in cards], key="ael_m_pick")
    card = next(c for c in cards if c["name"] == name)
    _model_downloads(name, "ael_m")
    st.button("Use it in my variants", key="ael_m_use", icon=":material/add:", on_click=_append_variant,
              args=(gray_variant(f"learned:{name}") if card["task"] == "gray" else denoiser_variant(name),))
    _use_message()
    with st.expander("Card"):
        st.json({k: v for k, v in card.items() if k != "losses"})
