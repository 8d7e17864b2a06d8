"""Activation maps on the Compare page: each variant's map over its network input, side by side, on one
color scale, with agreement and faithfulness numbers and downloads. The numbers come from ``core.explain``.

Pure builders (``cam_figure``, ``curves_figure``, ``summary_frame``, ``maps_png``) make no ``st.*`` calls;
``render`` lays them out, keeping its settings (method, layer, target class) as page options in the URL.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from components import state
from components.charts import PALETTE, colorscale
from components.exports import mpl_text
from components.text import plot
from core.errors import PrepscopeError
from core.explain import METHODS, CamCache, explain

if TYPE_CHECKING:
    from core.explain import CamReport

#: Variants per row of the map grid, and the side the maps are pooled to for the browser.
COLUMNS = 4
DISPLAY_SIDE = 112
COLORSCALE = "Turbo"
OPACITY = 0.55
#: The map opacities the page offers (a page option, so a link carries the choice).
OPACITIES = (0.25, 0.4, 0.55, 0.7, 0.85, 1.0)
#: Rec. 601 luma weights: the gray a map is drawn over, so a turbo map stays readable over a colormapped input.
LUMA = (0.299, 0.587, 0.114)
TARGETS = ("reference", "own", "class")
TARGET_LABELS = {"reference": "the reference's top-1 (same class for all)", "own": "each variant's own top-1",
                 "class": "a class by its index"}
#: The class index offered first for the built-in ImageNet heads (285 Egyptian cat); a network card starts at 0.
IMAGENET_CLASS = 285


def _pooled(m: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    k = max(1, -(-max(m.shape) // side))
    return (F.avg_pool2d(t, k, ceil_mode=True) if k > 1 else t)[0, 0].numpy()


def base_image(display: np.ndarray, gray: bool = True) -> np.ndarray:
    """What a map is drawn over, as (H, W, 3) in [0, 1]: the variant's network input, or by default its gray
    (601 luma) version, so a rainbow map over a rainbow input (turbo, jet) stays readable."""
    rgb = np.clip(np.asarray(display, dtype=np.float32), 0.0, 1.0)
    if rgb.ndim == 2:
        rgb = rgb[..., None]
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    if not gray:
        return rgb
    luma = rgb @ np.asarray(LUMA, dtype=np.float32)
    return np.repeat(luma[..., None], 3, axis=-1)


def cam_figure(report: CamReport, columns: int = COLUMNS, *, gray: bool = True,
               opacity: float = OPACITY) -> go.Figure:
    """One panel per variant: its network input (gray by default, ``base_image``) with its map drawn over it at
    ``opacity``, every map on the same color scale [0, report.vmax] and one color bar; titles carry the class and
    the agreement."""
    n = len(report.variants)
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    titles = []
    for i, v in enumerate(report.variants):
        extra = "reference" if i == 0 else (f"ρ {v.agreement_spearman:.2f} · IoU {v.agreement_iou:.2f}"
                                            if v.agreement_spearman is not None else f"IoU {v.agreement_iou:.2f}")
        titles.append(f"{plot(v.name)}<br><sup>{plot(v.class_label)} · {plot(extra)}</sup>")
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02,
                        vertical_spacing=0.08 / rows)
    vmax = report.vmax
    for i, v in enumerate(report.variants):
        r, c = divmod(i, cols)
        h, w = v.map.shape
        disp = np.round(base_image(v.display, gray) * 255).astype(np.uint8)
        fig.add_trace(go.Image(z=disp, hoverinfo="skip", name=plot(v.name)), row=r + 1, col=c + 1)
        small = _pooled(v.map)
        step_y, step_x = h / small.shape[0], w / small.shape[1]
        fig.add_trace(go.Heatmap(
            z=small, x0=step_x / 2 - 0.5, dx=step_x, y0=step_y / 2 - 0.5, dy=step_y, zmin=0.0, zmax=vmax,
            colorscale=colorscale(COLORSCALE), opacity=opacity, showscale=i == 0, name=plot(v.name),
            colorbar={"title": {"text": "map value", "side": "right"}, "thickness": 12, "len": 0.9},
            hovertemplate=f"{plot(v.name)}<br>x=%{{x:.0f}} y=%{{y:.0f}}<br>map=%{{z:.4f}}<extra></extra>"),
            row=r + 1, col=c + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, ticks="", autorange="reversed")
    fig.update_layout(height=300 * rows + 60, margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig


def merged(report: CamReport, groups: list) -> CamReport:
    """The report with each group of variants that gave the network identical inputs (``results.SameInput``) as
    one map named ``a = b`` (their maps are the same), as the rest of the Compare page shows them."""
    if not groups:
        return report
    owner = {g.members[0]: g.label for g in groups}
    dropped = {m for g in groups for m in g.members[1:]}
    return replace(report, variants=[v if i not in owner else replace(v, name=owner[i])
                                     for i, v in enumerate(report.variants) if i not in dropped])


def curves_figure(report: CamReport) -> go.Figure:
    """Deletion (solid) and insertion (dashed) curves per variant: target probability vs fraction of pixels."""
    fig = go.Figure()
    for i, v in enumerate(report.variants):
        color = PALETTE[i % len(PALETTE)]
        for name, curve, dash in (("deletion", v.deletion_curve, "solid"), ("insertion", v.insertion_curve, "dash")):
            x = np.linspace(0, 1, len(curve))
            fig.add_trace(go.Scatter(x=x, y=curve, mode="lines", line={"color": color, "dash": dash},
                                     name=plot(f"{v.name} {name}"), legendgroup=plot(v.name),
                                     hovertemplate=f"{plot(v.name)} {name}<br>%{{x:.0%}} of pixels<br>p=%{{y:.3f}}"
                                                   "<extra></extra>"))
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis={"title": "fraction of pixels removed (deletion) / inserted (insertion)",
                             "tickformat": ".0%"},
                      yaxis={"title": "probability of the target class"})
    return fig


def summary_frame(report: CamReport) -> pd.DataFrame:
    """One row per variant: target class and probability, agreement with the reference, deletion/insertion AUC."""
    return pd.DataFrame([{
        "variant": v.name, "class": f"{v.class_label} ({v.class_index})", "probability": v.class_prob,
        "Spearman vs ref": np.nan if v.agreement_spearman is None else v.agreement_spearman,
        "IoU top 15%": v.agreement_iou, "deletion AUC": v.deletion_auc, "insertion AUC": v.insertion_auc,
        "map peak": v.peak} for v in report.variants])


def maps_png(report: CamReport, columns: int = COLUMNS, *, gray: bool = True, opacity: float = OPACITY) -> bytes:
    """The map grid as a PNG (matplotlib Figure, never pyplot), one color scale and its color bar, each map over
    its variant's input (gray by default) at ``opacity``, as on the page."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    n = len(report.variants)
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(3 * cols + 0.8, 3.3 * rows), dpi=100)
    FigureCanvasAgg(fig)
    norm = Normalize(0.0, report.vmax)
    axes = fig.subplots(rows, cols, squeeze=False)
    image = None
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, v in enumerate(report.variants):
        ax = axes.ravel()[i]
        ax.imshow(base_image(v.display, gray))
        image = ax.imshow(v.map, cmap=colormaps["turbo"], norm=norm, alpha=opacity)
        rho = "-" if v.agreement_spearman is None else f"{v.agreement_spearman:.2f}"
        sub = "reference" if i == 0 else f"rho {rho}, IoU {v.agreement_iou:.2f}"
        ax.set_title(mpl_text(f"{v.name[:28]}\n{v.class_label[:24]} · {sub}"), fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="map value")
    fig.suptitle(report.conventions()[:140], fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- rendering


@st.cache_resource(show_spinner=False)
def _cache(model_name: str):
    """The activation-map results of one model, shared by every session of this server (read-only)."""
    return CamCache(max_entries=8)


def compute(signal, variants, model, method: str, layer: str, target) -> CamReport:
    """The report for these settings, from the per-model cache or computed under a status line."""
    cache = _cache(model.name)
    key = CamCache.key(signal, variants, model, method, layer, target)
    hit = cache.get(key)
    if hit is not None:
        return hit
    with st.status("Computing activation maps…", expanded=False) as status:
        report = explain(signal, variants, model, method=method, layer=layer, target=target,
                         progress=lambda f, m: status.update(label=f"{m} ({100 * f:.0f}%)"))
        status.update(label=f"Activation maps in {report.seconds:.1f} s", state="complete")
    cache.put(key, report)
    return report


def _class_input(model, key: str, *, disabled: bool) -> int:
    """The class-index input: ImageNet's 1000 classes for the built-in heads, a network card's own classes (named in
    the help) for a card; an index from a link or another model that the head does not have starts over."""
    labels = list(model.labels)
    own = model.head_name is not None
    default = 0 if own or len(labels) <= IMAGENET_CLASS else IMAGENET_CLASS
    wkey = f"{key}_class__widget"
    if not 0 <= int(state.get_page_option(f"{key}_class", default)) < len(labels):
        state.set_page_option(f"{key}_class", default)
        st.session_state.pop(wkey, None)
    elif wkey in st.session_state and not 0 <= int(st.session_state[wkey]) < len(labels):
        st.session_state[wkey] = default
    if own:
        shown = ", ".join(f"{i} {n}" for i, n in enumerate(labels[:12])) + (" …" if len(labels) > 12 else "")
        label, help_ = f"Class index of {model.name} (0–{len(labels) - 1})", f"The card's classes: {shown}."
    else:
        label, help_ = "ImageNet class index", "Used when the target is a class by index (e.g. 285 Egyptian cat)."
    return int(state.bound_widget(st.number_input, label, f"{key}_class", default, min_value=0,
                                  max_value=len(labels) - 1, step=1, disabled=disabled, help=help_))


def render(result, *, key: str = "compare_cam", same: list | None = None) -> CamReport | None:
    """Settings, the maps side by side on one scale, the numbers and downloads; returns the report (every variant,
    for the page's JSON). Variants with identical network inputs (``same``: ``results.SameInput`` groups) are
    shown as one map and one row. The settings are page options named ``{key}_method`` etc. (``key`` starts with
    the page's prefix), so the page's link reproduces them."""
    model = state.get_model()
    names = list(result.layer_names)
    c1, c2, c3, c4 = st.columns([2, 2, 3, 2])
    with c1:
        method = state.bound_widget(st.selectbox, "Method", f"{key}_method", "gradcam", options=list(METHODS),
                                    format_func=METHODS.get)
    with c2:
        layer = state.bound_widget(st.selectbox, "Layer", f"{key}_layer", names[-1], options=names,
                                   help="Default: the last named layer (the last convolutional stage).")
    with c3:
        target_kind = state.bound_widget(st.selectbox, "Target class", f"{key}_target", "reference",
                                         options=TARGETS, format_func=TARGET_LABELS.get)
    with c4:
        class_index = _class_input(model, key, disabled=target_kind != "class")
    target = class_index if target_kind == "class" else target_kind
    c5, c6 = st.columns([2, 3], vertical_alignment="bottom")
    with c5:
        gray = state.bound_widget(st.toggle, "Maps over a gray input", f"{key}_gray", True,
                                  help="Draw each map over the gray (601 luma) version of the variant's input, so a "
                                       "turbo map stays readable over a colormapped input (turbo, jet, viridis). Off: "
                                       "over the input as the network receives it.")
    with c6:
        opacity = state.bound_widget(st.select_slider, "Map opacity", f"{key}_opacity", OPACITY, options=OPACITIES,
                                     format_func=lambda x: f"{x:.0%}")
    try:
        report = compute(state.get_signal(), state.session().variants, model, method, layer, target)
    except PrepscopeError as e:
        st.error(str(e))
        return None
    st.caption(report.conventions() + ". Every map is drawn on the same color scale (0 to the largest value "
               f"over all variants) at {opacity:.0%} opacity, over that variant's network input"
               + (" in gray." if gray else "."))
    shown = merged(report, same or [])
    st.plotly_chart(cam_figure(shown, gray=gray, opacity=opacity), width="stretch", key=f"{key}_maps")
    st.dataframe(summary_frame(shown), hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(c, format="%.3f") for c in
        ("probability", "Spearman vs ref", "IoU top 15%", "deletion AUC", "insertion AUC", "map peak")})
    with st.expander("Deletion and insertion curves"):
        st.plotly_chart(curves_figure(shown), width="stretch", key=f"{key}_curves")
    d1, d2 = st.columns(2)
    d1.download_button("Download map summaries (JSON)", data=lambda: json.dumps(report.to_dict(), indent=2),
                       file_name="prepscope-maps.json", mime="application/json", key=f"{key}_dl_json",
                       on_click="ignore", icon=":material/download:")
    d2.download_button("Download maps (PNG)", data=lambda: maps_png(shown, gray=gray, opacity=opacity),
                       file_name="prepscope-maps.png",
                       mime="image/png", key=f"{key}_dl_png", on_click="ignore", icon=":material/download:")
    return report
