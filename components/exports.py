"""Exports that stand alone: JSON (variant set + results + model + versions + the page's link), CSV of the layer
table, and each page's own figure as a PNG drawn with matplotlib ``Figure`` + ``FigureCanvasAgg`` (never pyplot).

Every PNG carries, drawn in the image, a title, the input, the model and the variant names, and in its PNG text
chunks (iTXt, UTF-8) the full provenance: ``Title``, ``Software``, ``Source`` (the page's link) and ``prepscope``
(JSON: figure, model, variant specs, input and its digest, versions, link, time). The builders return bytes and make
no ``st.*`` calls; ``render_downloads`` puts them behind ``st.download_button``s, ``render_copy_link`` copies the
page's link.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import core
from components import charts, state
from components.charts import LOG_FLOOR, PALETTE, feature_map_grid, same_numbers_groups
from components.layer_tables import COMPARISON_MEASURES, STATS
from components.results import colorize_difference, difference_maps, difference_scales, sound_length, zoom_crop
from core.explain import attach
from core.preprocess.variant import Spectrogram
from core.provenance import versions
from core.shared import public_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from core.inspect.engine import InspectResult

#: Pixel geometry of the Compare PNG grid: one cell per variant, wrapping at PNG_COLUMNS per row.
PNG_COLUMNS = 4
PNG_CELL_PX = 256
PNG_TITLE_PX = 56
PNG_DPI = 100
#: Width of the header's wrapped lines, in characters, per 100 px of image width.
HEADER_CHARS_PER_100PX = 15
HEADER_LINE_PX = 15


@dataclass(frozen=True)
class Provenance:
    """What produced a figure: which figure of which page, its settings, the input, the model, the variants and the
    link that reproduces the view. ``record()`` is the JSON stored in the PNG and ``lines()`` the header drawn in it."""

    figure: str
    input_label: str
    result: Any
    link: str = ""
    settings: dict = field(default_factory=dict)
    #: What the figure draws where: one entry per image panel (``section``, ``variant``, ``box`` in pixels from the
    #: top left as [left, top, right, bottom], and what its colors or axes mean), for readers of the PNG.
    panels: list = field(default_factory=list)

    def record(self) -> dict:
        r = self.result
        out = {"figure": self.figure, "settings": self.settings, "link": self.link, "input": self.input_label,
               "input_digest": r.provenance.get("digest", ""), "input_provenance": r.provenance, "model": r.model,
               "model_description": r.model_description, "variants": [v.variant.to_dict() for v in r.variants],
               "versions": versions(), "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        if self.panels:
            out["panels"] = self.panels
        return out

    def lines(self, width_px: int) -> list[str]:
        """The header drawn at the top of the PNG (wrapped to ``width_px``): title, input and model, settings,
        the variant names (first = reference)."""
        r = self.result
        chars = max(40, width_px * HEADER_CHARS_PER_100PX // 100)
        digest = r.provenance.get("digest", "")
        names = " · ".join(f"{i + 1}. {v.variant.name}" + (" (reference)" if i == 0 else "")
                           for i, v in enumerate(r.variants))
        out = [f"prepscope · {self.figure}"]
        out += textwrap.wrap(f"input {self.input_label}" + (f" (digest {digest})" if digest else "")
                             + f" · model {r.model} ({r.model_description})", chars)
        if self.settings:
            out += textwrap.wrap(" · ".join(f"{k} {v}" for k, v in self.settings.items()), chars)
        out += textwrap.wrap(f"variants: {names}", chars)
        return out


def result_json(result: InspectResult, input_label: str | None = None, link: str | None = None,
                cams=None, identical: list[dict] | None = None) -> bytes:  # noqa: ANN001
    """The full result as indented UTF-8 JSON: ``InspectResult.to_dict()`` (model, provenance, versions, variants
    with spec, top-5 and per-layer numbers) plus the input label and the page's link when given, with ``cams``
    (a ``core.explain.CamReport``) each variant's ``"cam"`` summary, as the CLI writes it, and with ``identical``
    the groups of variants that gave the network identical inputs (``"identical_inputs"``: names and reason)."""
    data = result.to_dict()
    if cams is not None:
        attach(data, cams)
    if identical:
        data["identical_inputs"] = identical
    if link:
        data = {"link": link, **data}
    if input_label is not None:
        data = {"input_label": input_label, **data}
    return public_json(data, default=_json_default).encode("utf-8")


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def table_csv(table: pd.DataFrame) -> bytes:
    """A layer table (one row per variant and layer) as UTF-8 CSV without the index."""
    return table.to_csv(index=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------- PNG plumbing


def mpl_text(text: object) -> str:
    """Text for matplotlib drawn literally: ``$`` would start mathtext (a name could put a formula in the image)."""
    return str(text).replace("\\", "\\\\").replace("$", r"\$")


def header_px(prov: Provenance, width_px: int) -> int:
    """Height in pixels of the header band for ``prov`` at ``width_px``."""
    return 12 + HEADER_LINE_PX * (len(prov.lines(width_px)) + 1)


def _figure(width_px: int, height_px: int) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / PNG_DPI, height_px / PNG_DPI), dpi=PNG_DPI)
    FigureCanvasAgg(fig)
    return fig


def _draw_header(fig: Figure, prov: Provenance, width_px: int, height_px: int) -> None:
    y = height_px - 10
    for i, line in enumerate(prov.lines(width_px)):
        # the title in 12 pt bold (about 9.5 px a character), smaller where a narrow figure would cut it
        title_pt = min(12.0, max(7.5, 12.0 * (width_px - 16) / (9.5 * max(1, len(line)))))
        fig.text(8 / width_px, y / height_px, mpl_text(line), ha="left", va="top",
                 fontsize=title_pt if i == 0 else 8.5, fontweight="bold" if i == 0 else "normal")
        y -= HEADER_LINE_PX + (5 if i == 0 else 0)


def stamp_png(png: bytes, prov: Provenance) -> bytes:
    """``png`` re-saved with the provenance in iTXt chunks: Title, Software, Source (the link), Description and
    ``prepscope`` (the full JSON record)."""
    record = prov.record()
    info = PngInfo()
    info.add_itxt("Title", f"prepscope · {prov.figure} · {prov.input_label}")
    info.add_itxt("Software", f"prepscope {core.__version__}")
    if prov.link:
        info.add_itxt("Source", prov.link)
    info.add_itxt("Description", f"model {record['model']}; input {prov.input_label} ({record['input_digest']}); "
                                 f"variants: {', '.join(v['name'] for v in record['variants'])}")
    info.add_itxt("prepscope", json.dumps(record, ensure_ascii=False, default=_json_default))
    with Image.open(io.BytesIO(png)) as im:
        out = io.BytesIO()
        im.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _save(fig: Figure, prov: Provenance) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    return stamp_png(buf.getvalue(), prov)


def png_metadata(png: bytes) -> dict:
    """The prepscope record of an exported PNG (its ``prepscope`` text chunk), plus the other text chunks."""
    with Image.open(io.BytesIO(png)) as im:
        text = dict(im.text)
    return {"record": json.loads(text.pop("prepscope", "{}")), **text}


# ---------------------------------------------------------------------------------------------- the figures


#: Height of the heading band above the difference and zoom sections of the Compare PNG.
PNG_SECTION_PX = 30
#: Room for a spectrogram's tick labels and axis titles (left, bottom) inside a Compare PNG cell.
PNG_AXIS_LEFT_PX, PNG_AXIS_BOTTOM_PX = 46, 34


@dataclass(frozen=True)
class ComparePanels:
    """What the Compare PNG shows under the inputs, as chosen on the page: the difference images against the
    reference on a ``results.DIFF_SCALES`` scale (None: none) and the zoom inset of region ``zoom`` at ``factor``
    (None: none)."""

    differences: str | None = None
    zoom: str | None = None
    factor: int = 4

    def sections(self, n_variants: int) -> list[str]:
        """The figure's sections in order: ``input``, then ``difference`` (with a second variant), then ``zoom``."""
        out = ["input"]
        if self.differences is not None and n_variants > 1:
            out.append("difference")
        if self.zoom is not None:
            out.append("zoom")
        return out

    def settings(self) -> dict:
        """The switches as the PNG's header and metadata name them."""
        return {"difference images": "off" if self.differences is None else f"{self.differences} scale",
                "zoom": "off" if self.zoom is None else f"{self.zoom} {self.factor}×"}


def png_size(n_variants: int, columns: int = PNG_COLUMNS, sections: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of the Compare grid, without the header band: ``sections`` grids of one cell per
    variant (inputs, difference images, zoom insets), each after the first under a heading band."""
    cols = max(1, min(columns, n_variants))
    rows = max(1, math.ceil(n_variants / cols))
    return cols * PNG_CELL_PX, sections * rows * (PNG_CELL_PX + PNG_TITLE_PX) + (sections - 1) * PNG_SECTION_PX


def _sound_settings(result: InspectResult) -> dict:
    """For a result computed from a sound: the file's sampling rate and the rate(s) its spectrograms analyse it at."""
    sound = sound_length(result)
    if sound is None:
        return {}
    rates = sorted({(v.variant.spectrogram or Spectrogram()).sample_rate for v in result.variants})
    return {"sound": f"{sound[1]} Hz", "analysis rate": " and ".join(f"{r} Hz" for r in rates)}


def comparison_figure(result: InspectResult, prov: Provenance, columns: int = PNG_COLUMNS,
                      panels: ComparePanels | None = None) -> tuple[Figure, Provenance]:
    """The Compare (and Audio) figure and its provenance with every panel listed: a header, every variant's input
    as the network receives it titled with its name and top-1, then, as ``panels`` asks, each variant's difference
    image against the reference in the same column (magma, 0 to the scale printed under it) and the zoom inset of
    the chosen region. Inputs made from a sound keep their time (s) and frequency (Hz) axes and name the rate the
    spectrogram analyses the sound at."""
    panels = panels or ComparePanels()
    sections = panels.sections(len(result.variants))
    prov = replace(prov, settings={**prov.settings, **_sound_settings(result),
                                   **({k: v for k, v in panels.settings().items() if v != "off"})})
    n = len(result.variants)
    cols = max(1, min(columns, n))
    rows = max(1, math.ceil(n / cols))
    width, grid_h = png_size(n, columns, len(sections))
    head = header_px(prov, width)
    height = grid_h + head
    fig = _figure(width, height)
    _draw_header(fig, prov, width, height)
    sound = sound_length(result)
    maps, _ = difference_maps(result)
    scales = difference_scales(maps, panels.differences or "shared")
    listed: list[dict] = []
    y = head  # pixels from the top
    for section in sections:
        if section != "input":
            heading = ("Difference images |variant − reference|: magma, black 0 to white = the scale under each ("
                       + ("its own)" if panels.differences == "per variant" else "one shared scale)")
                       if section == "difference" else
                       f"Zoom: {panels.zoom}, {panels.factor}× — the same part of every input, pixels enlarged")
            lines = textwrap.wrap(heading, max(30, width * 12 // 100), max_lines=2, placeholder="…")  # bold
            fig.text(8 / width, 1 - (y + PNG_SECTION_PX / 2) / height, mpl_text("\n".join(lines)), ha="left",
                     va="center", fontsize=8.5, fontweight="bold")
            y += PNG_SECTION_PX
        for i, v in enumerate(result.variants):
            r, c = divmod(i, cols)
            top = y + r * (PNG_CELL_PX + PNG_TITLE_PX)
            name = "\n".join(textwrap.wrap(v.variant.name + (" (reference)" if i == 0 else ""), 44, max_lines=2,
                                            placeholder="…"))
            axes_for = None
            if section == "input":
                image = np.clip(v.display, 0.0, 1.0)
                pred = v.top5[0] if v.top5 else None
                title = f"{name}\n" + (f"{pred.label[:28]} ({100 * pred.prob:.1f}%)" if pred else "(no prediction)")
                entry = {"section": "input", "variant": v.variant.name}
            elif section == "difference":
                if i == 0:
                    fig.text((c + 0.5) * PNG_CELL_PX / width, 1 - (top + PNG_TITLE_PX + PNG_CELL_PX / 2) / height,
                             "reference:\nthe others are\ncompared with it", ha="center", va="center", fontsize=8)
                    continue
                if maps[i] is None:
                    fig.text((c + 0.5) * PNG_CELL_PX / width, 1 - (top + PNG_TITLE_PX + PNG_CELL_PX / 2) / height,
                             mpl_text(f"{name}\nno difference image:\nits size differs"), ha="center",
                             va="center", fontsize=8)
                    continue
                image = colorize_difference(maps[i], scales[i])
                title = f"{name}\n|Δ| mean {maps[i].mean():.4f} · scale 0–{scales[i]:.4f}"
                entry = {"section": "difference", "variant": v.variant.name, "colormap": "magma",
                         "scale": [0.0, round(float(scales[i]), 6)], "mean": round(float(maps[i].mean()), 6)}
            else:
                h, w = v.display.shape[:2]
                image = np.clip(zoom_crop(v.display, panels.zoom, panels.factor), 0.0, 1.0)
                title = f"{name}\n{panels.zoom}, {panels.factor}× ({round(w / panels.factor)}×" \
                        f"{round(h / panels.factor)} px of its input)"
                entry = {"section": "zoom", "variant": v.variant.name, "region": panels.zoom, "factor": panels.factor}
            if sound is not None and section != "zoom":
                axes_for = charts.spectrogram_axes(v.variant, sound[0], sound[1], v.display.shape[1])
            if section == "input" and sound is not None:
                title += f" · analysed at {(v.variant.spectrogram or Spectrogram()).sample_rate} Hz"
            left_in, bottom_in = (PNG_AXIS_LEFT_PX, PNG_AXIS_BOTTOM_PX) if axes_for is not None else (3, 3)
            side = PNG_CELL_PX - max(left_in, bottom_in) - (12 if axes_for is not None else 3)  # room for a tick
            box = [c * PNG_CELL_PX + left_in, top + PNG_TITLE_PX + 3, c * PNG_CELL_PX + left_in + side,
                   top + PNG_TITLE_PX + 3 + side]
            ax = fig.add_axes((box[0] / width, 1 - box[3] / height, side / width, side / height))
            ax.imshow(image, interpolation="nearest", aspect="auto")
            if axes_for is None:
                ax.set_axis_off()
            else:
                ax.set_xticks(axes_for.x_ticks, axes_for.x_labels, fontsize=6.5)
                ax.set_yticks(axes_for.y_ticks, axes_for.y_labels, fontsize=6.5)
                ax.set_xlabel("time (s)", fontsize=7, labelpad=1)
                ax.set_ylabel(axes_for.y_title, fontsize=7, labelpad=1)
                entry["axes"] = {"x": "time (s)", "x_ticks": list(axes_for.x_labels), "y": axes_for.y_title,
                                 "y_ticks": list(axes_for.y_labels)}
            fig.text((c + 0.5) * PNG_CELL_PX / width, 1 - (top + PNG_TITLE_PX / 2) / height, mpl_text(title),
                     ha="center", va="center", fontsize=7.5)
            listed.append({**entry, "box": box})
        y += rows * (PNG_CELL_PX + PNG_TITLE_PX)
    return fig, replace(prov, panels=listed)


def comparison_png(result: InspectResult, prov: Provenance | None = None, columns: int = PNG_COLUMNS,
                   panels: ComparePanels | None = None) -> bytes:
    """The Compare grid as a PNG (``comparison_figure``) with its provenance and panel list in the text chunks.
    ``result`` is what the figure draws (identical variants merged as ``a = b``); ``prov.result`` what the record
    lists (every variant's spec)."""
    prov = prov or Provenance("Compare: inputs as the network receives them", "", result)
    fig, prov = comparison_figure(result, prov, columns, panels)
    return _save(fig, prov)


def feature_maps_png(result: InspectResult, layer_index: int, channels: np.ndarray, diff: bool,
                     prov: Provenance) -> bytes:
    """The Feature maps view as a PNG: the same grid as the page (``charts.feature_map_grid``: a row per channel and
    the mean, a column per variant, one color range per row with its color bar) under the header."""
    grid = feature_map_grid(result, layer_index, channels, diff=diff)
    cell, label_w, bar_w = 120, 56, 70
    width = label_w + cell * len(grid.shown) + bar_w
    head = header_px(prov, width) + 20
    height = head + cell * len(grid.rows) + 10
    fig = _figure(width, height)
    _draw_header(fig, prov, width, height)
    cmap = "RdBu_r" if diff else "viridis"
    for c, vi in enumerate(grid.shown):
        name = result.variants[vi].variant.name
        fig.text((label_w + cell * (c + 0.5)) / width, (height - head + 4) / height,
                 mpl_text(textwrap.shorten(("Δ " if diff else "") + name, 22, placeholder="…")),
                 ha="center", va="bottom", fontsize=7.5)
    for r, (label, _) in enumerate(grid.rows):
        y0 = height - head - cell * (r + 1)
        lo, hi = grid.ranges[r]
        fig.text(6 / width, (y0 + cell / 2) / height, label, ha="left", va="center", fontsize=8)
        image = None
        for c, plane in enumerate(grid.planes[r]):
            ax = fig.add_axes(((label_w + cell * c + 2) / width, (y0 + 2) / height, (cell - 4) / width,
                               (cell - 4) / height))
            ax.set_axis_off()
            if plane is None:
                ax.text(0.5, 0.5, "size differs", ha="center", va="center", fontsize=7, transform=ax.transAxes)
                continue
            image = ax.imshow(plane, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        if image is not None:
            cax = fig.add_axes(((label_w + cell * len(grid.shown) + 6) / width, (y0 + 8) / height, 10 / width,
                                (cell - 16) / height))
            bar = fig.colorbar(image, cax=cax)
            bar.ax.tick_params(labelsize=6)
    return _save(fig, prov)


def statistics_png(table: pd.DataFrame, layer_names: list[str], prov: Provenance, *,
                   log_bn_shift: bool = True) -> bytes:
    """The Activation statistics charts as a PNG: one small line chart per statistic and measure (x: layer, one
    line per group of identical variants, named ``a = b``; bn_shift on a log axis unless ``log_bn_shift`` is False),
    a legend, under the header."""
    measures = [*STATS, *COMPARISON_MEASURES]
    groups = same_numbers_groups(table, measures)
    cols, panel_w, panel_h = 3, 380, 210
    nrows = math.ceil(len(measures) / cols)
    width = cols * panel_w
    legend_h = 16 * math.ceil(len(groups) / 3) + 10
    head = header_px(prov, width) + legend_h
    height = head + nrows * panel_h
    fig = _figure(width, height)
    _draw_header(fig, prov, width, height)
    for gi, group in enumerate(groups):
        r, c = divmod(gi, 3)
        y = height - header_px(prov, width) - 6 - 16 * r
        x = 10 + c * (width - 20) / 3
        fig.add_artist(_legend_patch(fig, x, y, width, height, PALETTE[gi % len(PALETTE)]))
        fig.text((x + 22) / width, y / height, mpl_text(textwrap.shorten(" = ".join(group), 60, placeholder="…")),
                 ha="left", va="center", fontsize=8)
    x = np.arange(len(layer_names))
    for mi, measure in enumerate(measures):
        r, c = divmod(mi, cols)
        left, bottom = (c * panel_w + 50) / width, (height - head - (r + 1) * panel_h + 34) / height
        ax = fig.add_axes((left, bottom, (panel_w - 70) / width, (panel_h - 62) / height))
        for gi, group in enumerate(groups):
            sub = table[table["variant"] == group[0]].set_index("layer").reindex(layer_names)
            y = sub[measure].to_numpy(dtype=float)
            if measure == "bn_shift" and log_bn_shift:
                y = np.maximum(y, LOG_FLOOR)
            ax.plot(x, y, marker="o", markersize=3, linewidth=1.5, color=PALETTE[gi % len(PALETTE)])
        if measure == "bn_shift" and log_bn_shift:
            ax.set_yscale("log")
        ax.set_title(measure + (" (log scale)" if measure == "bn_shift" and log_bn_shift else ""), fontsize=9)
        ax.set_xticks(x, [mpl_text(n) for n in layer_names], fontsize=6, rotation=45)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    return _save(fig, prov)


def _legend_patch(fig: Figure, x: float, y: float, width: int, height: int, color: str):  # noqa: ANN202
    from matplotlib.patches import Rectangle

    return Rectangle((x / width, (y - 3) / height), 16 / width, 6 / height, color=color, transform=fig.transFigure,
                     figure=fig)


# ---------------------------------------------------------------------------------------------- rendering


def render_downloads(result: InspectResult, input_label: str, *, table: pd.DataFrame | None = None,
                     png: Callable[[Provenance], bytes] | None = None, figure: str = "", settings: dict | None = None,
                     png_name: str = "figure", key: str = "export", cams=None,  # noqa: ANN001
                     identical: list[dict] | None = None) -> None:
    """Download buttons: the result JSON (with the page's link), the layer table as CSV (when ``table`` is given)
    and the page's own figure as PNG (``png`` draws it from a ``Provenance`` naming ``figure`` and the page's
    ``settings``), then the Copy link button. ``cams`` (the activation maps shown) adds each variant's map
    summary to the JSON, ``identical`` the groups of identical inputs (``result_json``). JSON and PNG are built
    only when clicked (deferred downloads); clicking does not rerun the page."""
    link = state.page_link()
    stem = _safe_stem(input_label)
    cols = st.columns([1, 1, 1, 1])
    cols[0].download_button("Results (JSON)", data=lambda: result_json(result, input_label, link, cams, identical),
                            file_name=f"prepscope-{stem}.json", mime="application/json", key=f"{key}_json",
                            on_click="ignore", icon=":material/download:")
    if table is not None:
        cols[1].download_button("Table (CSV)", data=table_csv(table), file_name=f"prepscope-{stem}-layers.csv",
                                mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:")
    if png is not None:
        prov = Provenance(figure, input_label, result, link, dict(settings or {}))
        cols[2].download_button("Figure (PNG)", data=lambda: png(prov), file_name=f"prepscope-{stem}-{png_name}.png",
                                mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/image:",
                                help="This page's figure with the title, input, model and variants drawn in, and the "
                                     "full provenance (variant specs, input digest, versions, link) in its PNG text.")
    with cols[3]:
        render_copy_link(link, key=f"{key}_link")


COPY_LINK_HTML = """<div class="ps-copy-link">
<button id="{id}" type="button" data-link="{link}" style="font:inherit;font-size:14px;padding:6px 12px;
border:1px solid rgba(49,51,63,0.2);border-radius:8px;background:white;cursor:pointer">&#128279; Copy link</button>
<span id="{id}-done" style="font-size:13px;color:rgba(49,51,63,0.6);margin-left:6px"></span></div>
<script>(function() {{
  const b = document.getElementById("{id}");
  if (!b || b.dataset.bound) return;
  b.dataset.bound = "1";
  b.addEventListener("click", async () => {{
    const link = window.location.href;
    let ok = false;
    try {{ await navigator.clipboard.writeText(link); ok = true; }} catch (e) {{
      const t = document.createElement("textarea"); t.value = link; document.body.appendChild(t); t.select();
      try {{ ok = document.execCommand("copy"); }} catch (e2) {{ ok = false; }}
      t.remove();
    }}
    document.getElementById("{id}-done").textContent = ok ? "Copied" : "Copy it from the address bar";
  }});
}})();</script>"""


def render_copy_link(link: str, *, key: str) -> None:
    """A "Copy link" button copying the address bar (which always holds this page's link, as ``link`` says)."""
    st.html(COPY_LINK_HTML.format(id=f"ps-{key}", link=html.escape(link, quote=True)), unsafe_allow_javascript=True)


def _safe_stem(label: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in label.rsplit(".", 1)[0])
    return stem.strip("-")[:60] or "input"
