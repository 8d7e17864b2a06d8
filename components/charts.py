"""Plotly figure builders for the result and accuracy pages (no ``st.*`` calls; pages display what these return).

Feature maps are heatmaps in one ``make_subplots`` grid with hover values; statistics are lines per
variant over the layers; the comparison measures are a variants x layers heatmap; a waveform is a
min/max envelope so long sounds stay light in the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import get_colorscale, hex_to_rgb, qualitative
from plotly.subplots import make_subplots

from components.layer_tables import COMPARISON_MEASURES, STATS, measure_matrix
from components.text import plot
from core.preprocess.spectrogram import _band, spectrogram_shape
from core.preprocess.variant import Resize, Spectrogram

if TYPE_CHECKING:
    from core.inspect.engine import InspectResult

PALETTE = qualitative.Plotly + qualitative.D3
ROW_PX = 150
#: bn_shift values below this are drawn at it on a log scale (a KL divergence can be 0).
LOG_FLOOR = 1e-3


def colorscale(name: str) -> list[list]:
    """A plotly colorscale (``"Viridis"``, ``"Magma"``, ``"RdBu_r"``, ``"Blues"``) as ``[position, "rgb(r,g,b)"]``
    pairs. Streamlit's chart frontend rewrites the colors ``#000001`` … ``#000040`` into theme colors (they are
    its placeholders), and Magma begins with ``#000004``: written as hex, the darkest end of Magma became a
    mid-pink and the bn_shift heatmap's colors stopped following its numbers. rgb() strings are left alone."""
    out = []
    for pos, color in get_colorscale(name):
        rgb = hex_to_rgb(color) if color.startswith("#") else tuple(int(float(x)) for x in
                                                                   color[color.index("(") + 1:-1].split(","))
        out.append([float(pos), f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"])
    return out


def same_numbers_groups(table: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    """Variants of a layer table (``components.layer_tables.layer_table``) whose numbers in ``columns`` are identical on
    every layer, as groups of names in table order (a variant alone is a group of one): such variants received the
    same network input, and drawn separately their lines would hide each other."""
    groups: dict[tuple, list[str]] = {}
    for name in dict.fromkeys(table["variant"]):
        rows = table[table["variant"] == name][columns].to_numpy(dtype=float)
        key = tuple(np.nan_to_num(rows, nan=np.inf).round(9).ravel().tolist())
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def _colorbar(fig: go.Figure, row: int, title: str, **extra: object) -> dict:
    """A color bar beside subplot ``row`` of a one-column ``make_subplots`` figure, as tall as that subplot."""
    domain = fig.layout[f"yaxis{'' if row == 1 else row}"].domain
    return {"title": {"text": title, "side": "right"}, "y": (domain[0] + domain[1]) / 2, "yanchor": "middle",
            "len": domain[1] - domain[0], "thickness": 12, "x": 1.01, **extra}


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick positions (log10) and labels (values) for a log color or y scale spanning ``lo`` … ``hi`` (log10)."""
    first, last = int(np.floor(lo)), int(np.ceil(hi))
    vals = list(range(first, last + 1))
    return [float(v) for v in vals], [f"{10.0 ** v:g}" for v in vals]


def log_axis_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], list[str]]:
    """Tick values and labels for a plotly log axis over data from ``lo`` to ``hi`` (> 0): 1, 2 and 5 times the
    powers of ten in range (only the powers when that gives more than ``most``; 1-9 times them when fewer than two
    fall inside; else the range's ends and middle), each labelled with its full value, so the labels read as
    numbers in order ("0.005, 0.01, 0.02") instead of plotly's default, where the in-between ticks are cut to
    their first digit ("5, 2, 0.01, 5, 2")."""
    lo, hi = float(lo), float(hi)
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    lo, hi = min(lo, hi), max(lo, hi)
    decades = range(math.floor(math.log10(lo)), math.floor(math.log10(hi)) + 1)

    def within(mults: tuple[int, ...]) -> list[float]:
        vals = [float(f"{m}e{k}") for k in decades for m in mults]
        return [v for v in vals if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]

    vals = within((1, 2, 5))
    if len(vals) > most:
        vals = within((1,))
    if len(vals) < 2:
        vals = within(tuple(range(1, 10)))
    if len(vals) < 2:  # within one step of a decade: its ends and middle, to two significant digits
        vals = sorted({float(f"{v:.2g}") for v in np.geomspace(lo, hi, 3)})
    return vals, [f"{v:g}" for v in vals]


@dataclass(frozen=True)
class MapGrid:
    """The planes of a feature-map view: ``shown`` variant indices (columns), ``rows`` as (label, channel; -1 =
    mean over channels), ``planes[r][c]`` (None where a difference is impossible) and each row's color range."""

    shown: list[int]
    rows: list[tuple[str, int]]
    planes: list[list[np.ndarray | None]]
    ranges: list[tuple[float, float]]
    diff: bool


def feature_map_grid(result: InspectResult, layer_index: int, channels: np.ndarray, *, diff: bool = False) -> MapGrid:
    """The numbers of the feature-map view (shared by the page's chart and its PNG export): one row per selected
    channel plus the mean over all channels, one column per variant. Without ``diff`` each row has one color range
    shared by all variants; with ``diff`` the columns are variant minus reference (non-reference variants only, None
    where the spatial size differs) on a range symmetric around 0."""
    variants = result.variants
    diff = diff and len(variants) > 1  # a single variant has nothing to differ from
    ref_fmap = np.asarray(variants[0].layers[layer_index].fmap, dtype=np.float32)
    shown = list(range(1, len(variants))) if diff else list(range(len(variants)))
    rows = [(f"ch {int(c)}", int(c)) for c in channels] + [("mean", -1)]

    def plane(vi: int, ch: int) -> np.ndarray | None:
        fm = variants[vi].layers[layer_index].fmap
        if fm is None:
            return None
        fm = np.asarray(fm, dtype=np.float32)
        p = fm.mean(axis=0) if ch < 0 else fm[ch]
        if diff:
            r = ref_fmap.mean(axis=0) if ch < 0 else ref_fmap[ch]
            return None if r.shape != p.shape else p - r
        return p

    planes, ranges = [], []
    for _, ch in rows:
        row = [plane(vi, ch) for vi in shown]
        finite = [p for p in row if p is not None]
        lo = float(min(p.min() for p in finite)) if finite else 0.0
        hi = float(max(p.max() for p in finite)) if finite else 1.0
        if diff:
            m = max(abs(lo), abs(hi), 1e-6)
            lo, hi = -m, m
        elif hi <= lo:
            hi = lo + 1e-6
        planes.append(row)
        ranges.append((lo, hi))
    return MapGrid(shown, rows, planes, ranges, diff)


def feature_map_figure(
    result: InspectResult, layer_index: int, channels: np.ndarray, *, diff: bool = False
) -> go.Figure:
    """The feature-map view (``feature_map_grid``) as plotly heatmaps with hover values and one color bar per row."""
    variants = result.variants
    grid = feature_map_grid(result, layer_index, channels, diff=diff)
    shown, rows = grid.shown, grid.rows

    fig = make_subplots(
        rows=len(rows),
        cols=len(shown),
        subplot_titles=[plot(variants[vi].variant.name) for vi in shown] + [""] * (len(shown) * (len(rows) - 1)),
        horizontal_spacing=0.02,
        vertical_spacing=min(0.03, 0.3 / max(len(rows), 1)),
        row_titles=[label for label, _ in rows],
    )
    for r, (label, _) in enumerate(rows, start=1):
        planes = grid.planes[r - 1]
        lo, hi = grid.ranges[r - 1]
        scale = colorscale("RdBu_r" if diff else "Viridis")
        for c, (vi, p) in enumerate(zip(shown, planes, strict=True), start=1):
            if p is None:
                p = np.full((1, 1), np.nan, dtype=np.float32)
            fig.add_trace(
                go.Heatmap(
                    z=p[::-1].tolist(),
                    zmin=lo,
                    zmax=hi,
                    colorscale=scale,
                    showscale=c == len(shown),
                    colorbar={
                        "x": 1.035,
                        "len": 1.0 / len(rows),
                        "y": 1 - (r - 0.5) / len(rows),
                        "thickness": 10,
                        "tickfont": {"size": 9},
                    },
                    hovertemplate=(
                        f"{plot(variants[vi].variant.name)}<br>{label}<br>x=%{{x}} y=%{{y}}<br>"
                        + ("Δ" if diff else "value")
                        + "=%{z:.4f}<extra></extra>"
                    ),
                    name=plot(f"{variants[vi].variant.name} {label}"),
                ),
                row=r,
                col=c,
            )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, scaleanchor=None)
    fig.update_layout(
        height=max(260, ROW_PX * len(rows) + 60),
        margin={"l": 10, "r": 70, "t": 70, "b": 10},
        title={
            "text": ("Δ vs reference — " if diff else "") + result.layer_names[layer_index],
            "font": {"size": 14},
            "y": 1.0,
            "yanchor": "top",
            "pad": {"t": 8},
        },
    )
    return fig


def statistics_figure(table: pd.DataFrame, layer_names: list[str], measures: list[str] | None = None, *,
                      log_bn_shift: bool = True) -> go.Figure:
    """One small line chart per statistic / measure (x: layer in network order, y: value, one line per variant)
    from the long table built by ``components.layer_tables.layer_table``. Variants with identical numbers on every
    layer are one line named ``a = b = c`` (``same_numbers_groups``); bn_shift is on a log axis unless
    ``log_bn_shift`` is False (one layer's large shift would flatten all others)."""
    measures = list(measures or (*STATS, *COMPARISON_MEASURES))
    cols = 2
    nrows = math.ceil(len(measures) / cols)
    titles = [f"{m} (log scale)" if m == "bn_shift" and log_bn_shift else m for m in measures]
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, vertical_spacing=0.3 / max(nrows, 1) + 0.02)
    groups = same_numbers_groups(table, [*STATS, *COMPARISON_MEASURES])
    for mi, measure in enumerate(measures):
        r, c = mi // cols + 1, mi % cols + 1
        for gi, group in enumerate(groups):
            label = plot(" = ".join(group))
            sub = table[table["variant"] == group[0]].set_index("layer").reindex(layer_names)
            y = sub[measure].to_numpy(dtype=float)
            if measure == "bn_shift" and log_bn_shift:
                y = np.maximum(y, LOG_FLOOR)
            fig.add_trace(
                go.Scatter(
                    x=layer_names,
                    y=y.tolist(),
                    mode="lines+markers",
                    name=label,
                    legendgroup=label,
                    showlegend=mi == 0,
                    line={"color": PALETTE[gi % len(PALETTE)], "width": 2},
                    marker={"size": 5},
                    hovertemplate=f"{label}<br>%{{x}}<br>{measure}=%{{y:.4g}}<extra></extra>",
                ),
                row=r,
                col=c,
            )
        if measure == "bn_shift" and log_bn_shift:
            fig.update_yaxes(type="log", row=r, col=c)
    fig.update_xaxes(tickfont={"size": 9})
    height = 230 * nrows + 110
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 100, "b": 10},
        legend={"orientation": "h", "y": 1 + 45 / (height - 110), "yanchor": "bottom", "x": 0},
    )
    return fig


def measures_heatmap(result: InspectResult, *, log_bn_shift: bool = True) -> go.Figure:
    """Variants x layers heatmaps of similarity (cosine), CKA and BN shift stacked vertically, the value written in
    every cell and a color bar beside each. Color follows value monotonically on every one, on explicit ranges:
    similarity and CKA from just below their lowest value (a multiple of 0.05, at most 0.95) to 1, so differences
    in the third decimal still show; bn_shift over its own range, on a log10 scale unless ``log_bn_shift`` is False,
    with the color bar labelled in bn_shift values."""
    names = [plot(v.variant.name) for v in result.variants]
    fig = make_subplots(rows=3, cols=1, subplot_titles=[
        f"{m} (log color scale)" if m == "bn_shift" and log_bn_shift else m for m in COMPARISON_MEASURES],
        vertical_spacing=0.12)
    ticks: dict[int, dict] = {}
    for r, measure in enumerate(COMPARISON_MEASURES, start=1):
        z = measure_matrix(result, measure).to_numpy(dtype=float)
        finite = z[np.isfinite(z)]
        if measure == "bn_shift":
            scale = colorscale("Magma")
            if log_bn_shift:
                color_z = np.log10(np.maximum(z, LOG_FLOOR))
                lo, hi = ((float(np.log10(max(finite.min(), LOG_FLOOR))), float(np.log10(max(finite.max(), LOG_FLOOR))))
                          if finite.size else (-1.0, 0.0))
                vals, labels = log_ticks(lo, hi)
                ticks[r] = {"tickvals": vals, "ticktext": labels}
            else:
                color_z = z
                lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        else:  # similarity and CKA: up to 1, from just below the lowest value (small effects get the whole scale)
            scale, color_z, hi = colorscale("Viridis"), z, 1.0
            lo = min(float(np.floor(finite.min() / 0.05) * 0.05), 0.95) if finite.size else 0.0
        digits = 2 if measure == "bn_shift" else 3
        text = [["" if np.isnan(x) else f"{x:.{digits}f}" for x in row] for row in z]
        fig.add_trace(
            go.Heatmap(
                z=np.where(np.isfinite(color_z), color_z, np.nan).tolist(),
                x=list(result.layer_names),
                y=names,
                zmin=lo,
                zmax=hi if hi > lo else lo + 1e-6,
                colorscale=scale,
                text=text,
                texttemplate="%{text}",
                textfont={"size": 9},
                customdata=[[f"{x:.4g}" if np.isfinite(x) else "—" for x in row] for row in z],
                hovertemplate=f"%{{y}} · %{{x}}<br>{measure}=%{{customdata}}<extra></extra>",
                name=measure,
            ),
            row=r,
            col=1,
        )
        fig.update_yaxes(autorange="reversed", row=r, col=1)
    for r, measure in enumerate(COMPARISON_MEASURES, start=1):
        fig.data[r - 1].colorbar = _colorbar(fig, r, measure, **ticks.get(r, {}))
    fig.update_layout(height=3 * (40 + 26 * len(names)) + 120, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


#: Line color of each channel of a colormap's transfer curves: the channel's own color.
CHANNEL_COLORS = (("R", "rgb(220,30,30)"), ("G", "rgb(30,160,30)"), ("B", "rgb(30,60,220)"))


def colormap_curves(name: str, *, height: int = 190) -> go.Figure:
    """A colormap as the fixed first layer it is: its R, G and B values (0-1) over the 256 gray levels it
    is indexed by (the table prepscope applies, ``core.preprocess.color.colormap_lut``), one line per
    channel in that channel's color, with the colormap itself as a strip underneath."""
    from core.preprocess.color import colormap_lut  # noqa: PLC0415 - torch, not at first paint

    lut = colormap_lut(name)
    levels = np.arange(len(lut))
    fig = make_subplots(rows=2, cols=1, row_heights=[0.8, 0.2], shared_xaxes=True, vertical_spacing=0.04)
    for c, (label, color) in enumerate(CHANNEL_COLORS):
        fig.add_trace(go.Scatter(x=levels, y=lut[:, c], mode="lines", name=label, line={"color": color, "width": 2},
                                 hovertemplate=f"gray %{{x}} → {label} %{{y:.3f}}<extra></extra>"), row=1, col=1)
    strip = np.round(np.repeat(lut[None, :, :], 8, axis=0) * 255).astype(np.uint8)
    fig.add_trace(go.Image(z=strip, hoverinfo="skip"), row=2, col=1)
    fig.update_yaxes(range=[-0.02, 1.02], title_text=None, row=1, col=1)
    fig.update_yaxes(visible=False, row=2, col=1)
    fig.update_xaxes(range=[-0.5, len(lut) - 0.5], row=1, col=1)
    fig.update_xaxes(title_text="gray level", title_standoff=2, row=2, col=1)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 24, "b": 4}, showlegend=False,
                      title={"text": f"{plot(name)}: R, G, B over gray", "font": {"size": 12}, "x": 0.02})
    return fig


@dataclass(frozen=True)
class SpectrogramAxes:
    """Tick positions (display pixels) and labels of a spectrogram as the network receives it: time in seconds
    along x, frequency in Hz (or the MFCC coefficient) along y, row 0 at the top."""

    x_ticks: list[float]
    x_labels: list[str]
    y_ticks: list[float]
    y_labels: list[str]
    y_title: str


def _display_to_source(n_display: int, n_source: int, n_scaled: int, offset: int) -> np.ndarray:
    """Source coordinate (cell centers, fractional) of every display pixel along one axis: the source of ``n_source``
    cells was scaled to ``n_scaled`` and the display starts ``offset`` scaled pixels in (negative: padding)."""
    scaled = np.arange(n_display) + offset + 0.5
    return scaled * n_source / n_scaled - 0.5


def spectrogram_axes(variant, n_samples: int, sr: int, side: int) -> SpectrogramAxes:  # noqa: ANN001 - a Variant
    """Where seconds and hertz fall on a variant's ``side`` x ``side`` network input made from a sound of
    ``n_samples`` at ``sr`` Hz: the spectrogram's frames are ``hop / sample_rate`` apart (centred STFT) and its rows
    are mel band centres, FFT bin frequencies or MFCC coefficients (``core.preprocess.spectrogram``), low at the
    bottom; the variant's fit (stretch, center crop, letterbox) maps them to display pixels."""
    import librosa

    spec = variant.spectrogram or Spectrogram()
    rows, frames = spectrogram_shape(n_samples, sr, spec)
    r = variant.resize if isinstance(variant.resize, Resize) else Resize()
    s = r.scale_size
    if r.fit == "stretch":
        hw = (s, s)
    else:
        scale = s / min(rows, frames) if r.fit == "shorter-side+center-crop" else s / max(rows, frames)
        hw = (max(1, round(rows * scale)), max(1, round(frames * scale)))
    if r.fit == "letterbox":
        top, left = -((r.size - hw[0]) // 2), -((r.size - hw[1]) // 2)
    else:
        top, left = (hw[0] - r.size) // 2, (hw[1] - r.size) // 2
    xs = _display_to_source(side, frames, hw[1], left) * spec.hop / spec.sample_rate  # seconds
    ys = _display_to_source(side, rows, hw[0], top)  # source row, 0 = top = highest
    duration = n_samples / sr
    step = next(st for st in (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 30, 60) if duration / st <= 6)
    shown = [float(t) for t in np.arange(0, duration + 1e-9, step) if xs[0] <= t <= xs[-1]]
    x_ticks = [float(np.interp(t, xs, np.arange(side))) for t in shown]
    x_labels = [f"{t:g}" for t in shown]
    if spec.kind == "mfcc":
        values, title = np.arange(rows)[::-1].astype(float), "MFCC coefficient"
        wanted = list(range(0, rows, max(1, rows // 6)))
    else:
        lo, hi = _band(spec)
        if spec.kind == "stft":
            freqs = np.arange(1 + spec.n_fft // 2) * (spec.sample_rate / spec.n_fft)
            centers = freqs[(freqs >= lo) & (freqs <= hi)]
        else:
            centers = librosa.mel_frequencies(n_mels=spec.n_mels + 2, fmin=lo, fmax=hi)[1:-1]
        values, title = centers[::-1], "frequency (Hz)"
        wanted = [f for f in (0, 250, 500, 1000, 2000, 4000, 6000, 8000, 12000, 16000, 24000)
                  if centers[0] <= f <= centers[-1]]
    y_ticks, y_labels = [], []
    row_of = np.interp(ys, np.arange(rows), values)  # the value at each display row (clamped at the edges)
    for f in wanted:
        if min(row_of) <= f <= max(row_of):
            y_ticks.append(float(np.interp(f, row_of[::-1], np.arange(side)[::-1])))
            y_labels.append(f"{f:g}" if spec.kind == "mfcc" or f < 1000 else f"{f / 1000:g}k")
    return SpectrogramAxes(x_ticks, x_labels, y_ticks, y_labels, title)


def spectrogram_figure(display: np.ndarray, axes: SpectrogramAxes, *, height: int = 260) -> go.Figure:
    """A network input made from a sound, as an image with its time (s) and frequency (Hz) axes."""
    img = np.round(np.clip(np.asarray(display, dtype=np.float32), 0, 1) * 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    fig = go.Figure(go.Image(z=img, hovertemplate="x %{x} · y %{y}<extra></extra>"))
    fig.update_xaxes(tickvals=axes.x_ticks, ticktext=axes.x_labels, title_text="time (s)", title_standoff=2,
                     tickfont={"size": 9}, showgrid=False)
    fig.update_yaxes(tickvals=axes.y_ticks, ticktext=axes.y_labels, title_text=axes.y_title, title_standoff=2,
                     tickfont={"size": 9}, showgrid=False)
    fig.update_layout(height=height, margin={"l": 4, "r": 4, "t": 4, "b": 4})
    return fig


def decimate_envelope(waveform: np.ndarray, sr: int, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a waveform to at most ``max_points`` (time in seconds, amplitude) pairs by keeping the
    minimum and maximum of each block, so peaks survive. Short waveforms are returned unchanged."""
    w = np.asarray(waveform, dtype=np.float32).reshape(-1)
    n = len(w)
    t = np.arange(n, dtype=np.float64) / float(sr)
    if n <= max_points:
        return t, w
    blocks = max(1, max_points // 2)
    edges = np.linspace(0, n, blocks + 1).astype(int)
    lo = np.minimum.reduceat(w, edges[:-1])
    hi = np.maximum.reduceat(w, edges[:-1])
    centers = (edges[:-1] + edges[1:]) / 2.0 / float(sr)
    times = np.repeat(centers, 2)
    values = np.empty(2 * blocks, dtype=np.float32)
    values[0::2], values[1::2] = lo, hi
    return times, values


def waveform_figure(waveform: np.ndarray, sr: int, max_points: int = 4000) -> go.Figure:
    """The waveform as a plotly line over time (decimated to a min/max envelope for long sounds)."""
    t, y = decimate_envelope(waveform, sr, max_points)
    fig = go.Figure(go.Scatter(x=t, y=y, mode="lines", line={"width": 1}, name="waveform"))
    fig.update_layout(
        height=220,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="time (s)",
        yaxis_title="amplitude",
        title={"text": f"Waveform · {len(np.ravel(waveform)) / sr:.2f} s at {sr} Hz", "font": {"size": 13}},
    )
    return fig
