"""The tables and figures of a sweep result (Accuracy, Runs and the Autoencoder lab show them): the results table,
folds, per-class recall, confusion matrices, the accuracy chart and the paired comparison of two runs. The rows are
``core.evaluate.report``'s (``table_rows``: identical inputs as one row ``a = b``; ``fmt_p``), shared with the
command line's tables. No ``st.*`` calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.charts import colorscale
from components.text import plot
from core.evaluate.report import fmt_p, table_rows
from core.evaluate.sweep import SweepResult


def short_label(label: str, limit: int = 34) -> str:
    """A results-row label short enough for a chart axis: a long ``a = b = c`` becomes ``a (= 2 more)``."""
    if len(label) <= limit:
        return label
    parts = label.split(" = ")
    if len(parts) > 1:
        return f"{parts[0]} (= {len(parts) - 1} more)"
    return label[: limit - 1] + "…"


def results_frame(result: SweepResult) -> pd.DataFrame:
    """One row per variant (identical inputs as one row, reference first): accuracy (micro), Wilson 95% CI, macro
    accuracy, test items, McNemar p, and under cross-validation the folds' range and the paired test across folds.
    p-values are text so the reference shows "—"."""
    rows = []
    cv = result.cross_validated
    for label, i, members in table_rows(result):
        v = result.variants[i]
        ref = 0 in members
        row = {"variant": label + (" (reference)" if ref else ""), "accuracy": v.accuracy, "ci95_low": v.ci95[0],
               "ci95_high": v.ci95[1], "macro_accuracy": v.macro_accuracy, "n_test": v.n_test,
               "mcnemar_p": "—" if ref else fmt_p(v.mcnemar_p)}
        if cv:
            spread = v.fold_spread
            row["folds"] = f"{spread['min']:.3f} – {spread['max']:.3f}"
            row["fold_test_p"] = "—" if ref else fmt_p(v.fold_test_p)
        row["seconds"] = v.seconds
        rows.append(row)
    return pd.DataFrame(rows)


def folds_frame(result: SweepResult) -> pd.DataFrame:
    """Accuracy of every fold (columns, named ``name (n=…)``) per results-table row."""
    rows = []
    for label, i, _ in table_rows(result):
        row = {"variant": label}
        row.update({f"{f['name']} (n={f['n_test']})": f["accuracy"] for f in result.variants[i].folds})
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_figure(result: SweepResult) -> go.Figure:
    """Bar chart of pooled micro accuracy per results-table row with asymmetric error bars for the 95% Wilson
    interval, the value (and McNemar p) written above the interval; under cross-validation each fold's accuracy
    is a dot beside its bar (hover: the fold). The reference bar is darker; a dashed line marks chance."""
    rows = table_rows(result)
    vs = [result.variants[i] for _, i, _ in rows]
    x = list(range(len(rows)))
    colors = ["#1f4e79" if 0 in m else "#6baed6" for _, _, m in rows]
    fig = go.Figure(go.Bar(
        x=x, y=[v.accuracy for v in vs], marker_color=colors, width=0.5, name="pooled",
        customdata=[plot(label) for label, _, _ in rows],
        error_y={"type": "data", "symmetric": False, "array": [v.ci95[1] - v.accuracy for v in vs],
                 "arrayminus": [v.accuracy - v.ci95[0] for v in vs], "color": "#333"},
        hovertemplate="%{customdata}<br>pooled accuracy %{y:.3f}<extra></extra>"))
    for k, (v, (_, _, m)) in enumerate(zip(vs, rows, strict=True)):
        text = f"{v.accuracy:.3f}" + ("" if 0 in m or v.mcnemar_p is None else f"<br>p={v.mcnemar_p:.2g}")
        fig.add_annotation(x=k, y=v.ci95[1], text=text, showarrow=False, yanchor="bottom", yshift=4,
                           font={"size": 11})
    if result.cross_validated:
        dx, dy, names = [], [], []
        for k, v in zip(x, vs, strict=True):
            n = len(v.folds)
            for j, f in enumerate(v.folds):
                dx.append(k + 0.36 + (0.12 * (j - (n - 1) / 2) / max(1, n - 1)))
                dy.append(f["accuracy"])
                names.append(f"{f['name']} (n={f['n_test']})")
        fig.add_trace(go.Scatter(x=dx, y=dy, mode="markers", name="folds", customdata=names,
                                 marker={"color": "#444", "size": 7, "opacity": 0.7, "symbol": "circle"},
                                 hovertemplate="%{customdata}<br>accuracy %{y:.3f}<extra></extra>"))
    chance = 1.0 / max(1, len(result.classes))
    fig.add_hline(y=chance, line_dash="dash", line_color="gray", annotation_text="chance",
                  annotation_position="bottom right")
    fig.update_layout(yaxis={"title": "accuracy (micro) with 95% Wilson interval", "range": [0, 1.18]},
                      xaxis={"title": "variant (first = reference)" + ("; dots = folds" if result.cross_validated
                                                                       else ""),
                             "tickvals": x, "ticktext": [plot(short_label(label)) for label, _, _ in rows],
                             "range": [-0.6, len(x) - 0.2]},
                      margin={"t": 30, "b": 40}, height=400, showlegend=False)
    return fig


def per_class_frame(result: SweepResult) -> pd.DataFrame:
    """Per-class recall: one row per results-table row, one column per class (NaN where a class has no test item)."""
    rows = []
    for label, i, _ in table_rows(result):
        pc = result.variants[i].per_class
        rows.append({"variant": label, **{c: (np.nan if pc.get(c) is None else float(pc[c])) for c in result.classes}})
    return pd.DataFrame(rows)


def class_counts(result: SweepResult) -> dict[str, int]:
    """Test items per class."""
    counts = np.bincount(result.labels, minlength=len(result.classes)) if result.items else np.zeros(0, int)
    return {c: int(n) for c, n in zip(result.classes, counts, strict=False)}


def per_class_figure(result: SweepResult) -> go.Figure:
    """Heatmap of per-class recall: rows = results-table rows, columns = classes, value written in each cell;
    the color follows the value on a fixed 0–1 scale."""
    rows = table_rows(result)
    z = np.array([[np.nan if result.variants[i].per_class.get(c) is None else result.variants[i].per_class[c]
                   for c in result.classes] for _, i, _ in rows], dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=[plot(c) for c in result.classes], y=[plot(short_label(label)) for label, _, _ in rows],
        zmin=0.0, zmax=1.0, colorscale=colorscale("Viridis"),
        text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.2f}")(z),
        texttemplate="%{text}", textfont={"size": 12}, colorbar={"title": "recall", "thickness": 12},
        customdata=[[plot(label)] * len(result.classes) for label, _, _ in rows],
        hovertemplate="%{customdata}<br>class %{x}<br>recall %{z:.3f}<extra></extra>"))
    fig.update_layout(xaxis={"title": "class", "type": "category"}, yaxis={"autorange": "reversed"},
                      height=110 + 44 * len(rows), margin={"t": 20, "l": 10, "r": 10, "b": 40})
    return fig


def confusion_figure(result: SweepResult, index: int, title: str | None = None) -> go.Figure:
    """Heatmap of one variant's confusion matrix: rows = true class, columns = predicted, counts annotated."""
    v = result.variants[index]
    classes = [plot(c) for c in result.classes]
    z = v.confusion
    top = max(1, int(np.max(z))) if np.size(z) else 1
    fig = go.Figure(go.Heatmap(z=np.asarray(z).tolist(), x=classes, y=classes, colorscale=colorscale("Blues"),
                               zmin=0, zmax=top, colorbar={"title": "items", "thickness": 10},
                               text=[[str(c) for c in row] for row in z], texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} items<extra></extra>"))
    fig.update_layout(title={"text": f"{plot(title or v.name)}: {v.accuracy:.3f}", "font": {"size": 13}},
                      xaxis={"title": "predicted", "type": "category"},
                      yaxis={"title": "true", "autorange": "reversed", "type": "category"},
                      margin={"t": 40, "l": 10, "r": 10, "b": 10}, height=320)
    return fig


def comparison_figure(rows: list) -> go.Figure:
    """Paired comparison of two runs: for each matched variant, run A's and run B's accuracy on the shared items
    with Wilson intervals, side by side (A dark, B light; values on hover and in the table beside it)."""
    x = [plot(r.a if r.a == r.b else f"{r.a} vs {r.b}") for r in rows]
    fig = go.Figure()
    for side, color in (("a", "#1f4e79"), ("b", "#9ecae1")):
        acc = [getattr(r, f"accuracy_{side}") for r in rows]
        ci = [getattr(r, f"ci95_{side}") for r in rows]
        fig.add_trace(go.Bar(x=x, y=acc, name=f"run {side.upper()}", marker_color=color,
                             error_y={"type": "data", "symmetric": False, "array": [c[1] - a for a, c in zip(acc, ci,
                                                                                                            strict=True)],
                                      "arrayminus": [a - c[0] for a, c in zip(acc, ci, strict=True)]},
                             hovertemplate=f"run {side.upper()}<br>%{{x}}<br>accuracy %{{y:.3f}}<extra></extra>"))
    fig.update_layout(barmode="group", yaxis={"title": "accuracy on the shared items (95% Wilson)", "range": [0, 1.15]},
                      height=380, margin={"t": 30, "b": 40}, legend={"orientation": "h", "y": 1.08})
    return fig
