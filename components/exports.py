"""Exports of a result: JSON (variant set + results + model + versions), CSV of the layer table, and a
PNG of the comparison grid drawn with matplotlib ``Figure`` + ``FigureCanvasAgg`` (never pyplot).

The builders return bytes and make no ``st.*`` calls; ``render_downloads`` puts them behind
``st.download_button``s.
"""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from core.inspect.engine import InspectResult

#: Pixel geometry of the PNG grid: one cell per variant, wrapping at PNG_COLUMNS per row.
PNG_COLUMNS = 4
PNG_CELL_PX = 256
PNG_TITLE_PX = 56
PNG_DPI = 100


def result_json(result: InspectResult, input_label: str | None = None, cams=None) -> bytes:  # noqa: ANN001
    """The full result as indented UTF-8 JSON: ``InspectResult.to_dict()`` (model, provenance,
    versions, variants with spec, top-5 and per-layer numbers) plus the input label (``input_label``) when given,
    and with ``cams`` (a ``core.explain.CamReport``) each variant's ``"cam"`` summary, as the CLI writes it."""
    data = result.to_dict()
    if cams is not None:
        from core.explain import attach

        attach(data, cams)
    if input_label is not None:
        data = {"input_label": input_label, **data}
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default).encode("utf-8")


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def table_csv(table: pd.DataFrame) -> bytes:
    """A layer table (one row per variant and layer) as UTF-8 CSV without the index."""
    return table.to_csv(index=False).encode("utf-8")


def png_size(n_variants: int, columns: int = PNG_COLUMNS) -> tuple[int, int]:
    """(width, height) in pixels of the comparison PNG for ``n_variants`` variants."""
    cols = max(1, min(columns, n_variants))
    rows = max(1, math.ceil(n_variants / cols))
    return cols * PNG_CELL_PX, rows * (PNG_CELL_PX + PNG_TITLE_PX)


def comparison_png(result: InspectResult, columns: int = PNG_COLUMNS) -> bytes:
    """The comparison grid as a PNG: every variant's input as the network receives it, titled with its
    name and top-1 prediction, wrapping at ``columns`` per row; size given by ``png_size``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(result.variants)
    width, height = png_size(n, columns)
    cols = max(1, min(columns, n))
    fig = Figure(figsize=(width / PNG_DPI, height / PNG_DPI), dpi=PNG_DPI)
    FigureCanvasAgg(fig)
    cell_h = (PNG_CELL_PX + PNG_TITLE_PX) / height
    cell_w = PNG_CELL_PX / width
    img_h = PNG_CELL_PX / height
    for i, v in enumerate(result.variants):
        r, c = divmod(i, cols)
        bottom = 1.0 - (r + 1) * cell_h
        ax = fig.add_axes((c * cell_w + 0.01 * cell_w, bottom + 0.01 * img_h, 0.98 * cell_w, 0.98 * img_h))
        ax.imshow(np.clip(v.display, 0.0, 1.0), interpolation="nearest")
        ax.set_axis_off()
        top = v.top5[0] if v.top5 else None
        pred = f"{top.label[:28]} ({100 * top.prob:.1f}%)" if top else "(no prediction)"
        fig.text(
            c * cell_w + cell_w / 2,
            bottom + img_h + (cell_h - img_h) / 2,
            f"{v.variant.name[:32]}{' (reference)' if i == 0 else ''}\n{pred}",
            ha="center",
            va="center",
            fontsize=8,
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI)
    return buf.getvalue()


def render_downloads(result: InspectResult, input_label: str, *, table: pd.DataFrame | None = None,
                     png: bool = True, key: str = "export", cams=None) -> None:  # noqa: ANN001
    """Download buttons: the result JSON, the layer table as CSV (when ``table`` is given) and the
    comparison grid as PNG (when ``png``). JSON and PNG are built only when clicked (deferred
    downloads); clicking does not rerun the page."""
    import streamlit as st

    stem = _safe_stem(input_label)
    cols = st.columns(3)
    cols[0].download_button(
        "Download results (JSON)",
        data=lambda: result_json(result, input_label, cams),
        file_name=f"prepscope-{stem}.json",
        mime="application/json",
        key=f"{key}_json",
        on_click="ignore",
    )
    if table is not None:
        cols[1].download_button(
            "Download table (CSV)",
            data=table_csv(table),
            file_name=f"prepscope-{stem}-layers.csv",
            mime="text/csv",
            key=f"{key}_csv",
            on_click="ignore",
        )
    if png:
        cols[2].download_button(
            "Download comparison (PNG)",
            data=lambda: comparison_png(result),
            file_name=f"prepscope-{stem}-grid.png",
            mime="image/png",
            key=f"{key}_png",
            on_click="ignore",
        )


def _safe_stem(label: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in label.rsplit(".", 1)[0])
    return stem.strip("-")[:60] or "input"
