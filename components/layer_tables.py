"""The layer tables of an inspect result, shared by the Feature maps, Statistics, Compare and Audio views, their
charts and their exports: one row per (variant, layer), and a variants x layers matrix of one measure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from core.inspect.measures import COMPARISON_MEASURES, STATS

if TYPE_CHECKING:
    from core.inspect.engine import InspectResult

__all__ = ["COMPARISON_MEASURES", "MEASURE_HELP", "STATS", "TABLE_KEYS", "layer_table", "measure_matrix"]

MEASURE_HELP = {
    "similarity": "cosine of globally pooled features vs the reference (1 = same direction)",
    "cka": "linear CKA over spatial positions vs the reference (1 = same representation; blank if sizes differ)",
    "bn_shift": "symmetric Gaussian KL of per-channel statistics vs the layer's BatchNorm running statistics",
}
#: Identifying columns of the layer table (one row per variant and layer).
TABLE_KEYS = ("variant", "variant_index", "layer", "layer_index")


def layer_table(result: InspectResult) -> pd.DataFrame:
    """One row per (variant, layer) with every number the engine computed for that layer: the
    activation statistics of ``core.inspect.measures.STATS`` and the comparison measures similarity,
    cka and bn_shift (NaN where the engine gives none)."""
    rows: list[dict[str, Any]] = []
    for vi, v in enumerate(result.variants):
        for li, layer in enumerate(v.layers):
            row: dict[str, Any] = {"variant": v.variant.name, "variant_index": vi}
            row.update(layer=layer.name, layer_index=li)
            for name in (*STATS, *COMPARISON_MEASURES):
                value = getattr(layer, name)
                row[name] = float("nan") if value is None else float(value)
            rows.append(row)
    return pd.DataFrame(rows, columns=[*TABLE_KEYS, *STATS, *COMPARISON_MEASURES])


def measure_matrix(result: InspectResult, measure: str) -> pd.DataFrame:
    """A variants x layers table of one measure (a statistic or similarity / cka / bn_shift)."""
    table = layer_table(result)
    wide = table.pivot(index="variant", columns="layer", values=measure)
    return wide.loc[[v.variant.name for v in result.variants], list(result.layer_names)]
