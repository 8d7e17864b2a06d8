"""Plotly figures and a table for sweep results (no streamlit: the Accuracy page and exports share them)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.evaluate.sweep import SweepResult


def results_frame(result: SweepResult) -> pd.DataFrame:
    """One row per variant (reference first): accuracy (micro), Wilson 95% CI, macro accuracy, McNemar p, seconds."""
    frame = pd.DataFrame(result.table())
    frame["mcnemar_p"] = frame["mcnemar_p"].astype(float)  # the reference's None shows as an empty cell
    return frame


def accuracy_figure(result: SweepResult) -> go.Figure:
    """Bar chart of micro accuracy per variant with asymmetric error bars for the 95% Wilson interval;
    the reference bar is darker and a dashed line marks chance (1 / number of classes)."""
    names = [v.name for v in result.variants]
    acc = [v.accuracy for v in result.variants]
    hi = [v.ci95[1] - v.accuracy for v in result.variants]
    lo = [v.accuracy - v.ci95[0] for v in result.variants]
    colors = ["#1f4e79"] + ["#6baed6"] * (len(names) - 1)
    text = [f"{a:.3f}" + ("" if v.mcnemar_p is None else f"<br>p={v.mcnemar_p:.2g}")
            for a, v in zip(acc, result.variants, strict=True)]
    fig = go.Figure(go.Bar(x=names, y=acc, marker_color=colors, text=text, textposition="outside",
                           error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
                           hovertemplate="%{x}<br>accuracy %{y:.3f}<extra></extra>"))
    chance = 1.0 / max(1, len(result.classes))
    fig.add_hline(y=chance, line_dash="dash", line_color="gray", annotation_text="chance",
                  annotation_position="bottom right")
    fig.update_layout(yaxis={"title": "accuracy (micro) with 95% Wilson interval", "range": [0, 1.12]},
                      xaxis_title="variant (first = reference)", margin={"t": 30, "b": 40}, height=380,
                      showlegend=False)
    return fig


def confusion_figure(result: SweepResult, index: int) -> go.Figure:
    """Heatmap of one variant's confusion matrix: rows = true class, columns = predicted, counts annotated."""
    v = result.variants[index]
    classes = list(result.classes)
    z = v.confusion
    fig = go.Figure(go.Heatmap(z=z, x=classes, y=classes, colorscale="Blues", showscale=False,
                               text=[[str(c) for c in row] for row in z], texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} items<extra></extra>"))
    fig.update_layout(title={"text": f"{v.name}: {v.accuracy:.3f}", "font": {"size": 13}},
                      xaxis={"title": "predicted", "type": "category"},
                      yaxis={"title": "true", "autorange": "reversed", "type": "category"},
                      margin={"t": 40, "l": 10, "r": 10, "b": 10}, height=320)
    return fig
