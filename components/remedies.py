"""The Accuracy page's remedies and model comparison: several models at once (a model x variant table and a
grouped chart), BatchNorm re-estimation and fine-tuning results. The sweeps themselves are
``core.evaluate.multimodel``, ``core.evaluate.adabn`` and ``core.evaluate.methods.finetune``.

Pure builders (``model_variant_frame``, ``grouped_accuracy_figure``, ``adapted_frame``, ``finetune_frame``)
make no ``st.*`` calls; the ``render_*`` functions lay them out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import state
from components.charts import PALETTE
from components.sweep_charts import results_frame
from core.evaluate.methods.finetune import MAX_EPOCHS, MAX_TRAIN_ITEMS
from core.evaluate.multimodel import input_size
from core.evaluate.report import adapted_rows, table_rows
from core.models import MODELS


def model_variant_frame(result) -> pd.DataFrame:  # noqa: ANN001 - MultiSweepResult
    """One row per (model, variant), each model's reference first, identical inputs as one row: the model, its
    run id, the input size, then ``sweep_charts.results_frame``'s columns (accuracy, Wilson CI, macro, McNemar p vs that
    model's reference, folds) and the adapted accuracy when BatchNorm was re-estimated."""
    frames = []
    for r in result.results:
        f = results_frame(r).drop(columns=["seconds"])
        rows = table_rows(r)
        f.insert(0, "model", r.provenance["model"])
        f.insert(1, "run", "—" if r.run_id is None else f"#{r.run_id}")
        f.insert(2, "input_size", [input_size(r.variants[i].spec) for _, i, _ in rows])
        if any(v.adapted for v in r.variants):
            f["adapted_accuracy"] = [(r.variants[i].adapted or {}).get("accuracy") for _, i, _ in rows]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def grouped_accuracy_figure(result) -> go.Figure:  # noqa: ANN001 - MultiSweepResult
    """Bars grouped by variant, one color per model, with asymmetric Wilson 95% error bars; a dashed line at chance."""
    fig = go.Figure()
    for k, r in enumerate(result.results):
        model = r.provenance["model"]
        fig.add_trace(go.Bar(
            name=model, x=[v.name for v in r.variants], y=[v.accuracy for v in r.variants],
            marker_color=PALETTE[k % len(PALETTE)],
            error_y={"type": "data", "symmetric": False, "array": [v.ci95[1] - v.accuracy for v in r.variants],
                     "arrayminus": [v.accuracy - v.ci95[0] for v in r.variants]},
            customdata=[["-" if v.mcnemar_p is None else f"{v.mcnemar_p:.3g}"] for v in r.variants],
            hovertemplate=f"{model}<br>%{{x}}<br>accuracy %{{y:.3f}}<br>McNemar p vs this model's reference "
                          "%{customdata[0]}<extra></extra>"))
    chance = 1.0 / max(1, len(result.results[0].classes))
    fig.add_hline(y=chance, line_dash="dash", line_color="gray", annotation_text="chance",
                  annotation_position="bottom right")
    fig.update_layout(barmode="group", height=420, margin={"t": 30, "b": 40},
                      yaxis={"title": "accuracy (micro) with 95% Wilson interval", "range": [0, 1.08]},
                      xaxis_title="variant (first = each model's reference)", legend_title_text="model")
    return fig


def adapted_frame(result) -> pd.DataFrame | None:  # noqa: ANN001 - SweepResult
    """Per variant (identical inputs as one row): accuracy without / with BatchNorm re-estimation, the adapted
    interval, McNemar p between them (and the fold test p under cross-validation), and the dataset BN-shift of
    the first and last named layer before -> after; None when nothing was adapted."""
    rows = []
    for r in adapted_rows(result):
        row = {"variant": r["label"], "unadapted": r["unadapted"], "BN re-estimated": r["adapted"],
               "95% CI low": r["ci95"][0], "95% CI high": r["ci95"][1], "McNemar p vs unadapted": r["mcnemar_p"]}
        if result.cross_validated:
            row["fold test p vs unadapted"] = r["fold_p"]
        for name, before, after in r["shifts"]:
            row[f"BN-shift {name} before"] = before
            row[f"BN-shift {name} after"] = after
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def finetune_frame(result) -> pd.DataFrame | None:  # noqa: ANN001 - SweepResult
    """Per variant (identical inputs as one row): probe vs finetune on the same test items with intervals and
    McNemar p (and the fold test p under cross-validation); None for other methods."""
    if result.method != "finetune":
        return None
    rows = []
    for label, i, _ in table_rows(result):
        v = result.variants[i]
        pr = v.details.get("probe") or {}
        best = v.details.get("best_epoch")
        row = {"variant": label, "probe": pr.get("accuracy"), "probe CI low": pr.get("ci95", [None])[0],
               "probe CI high": pr.get("ci95", [None, None])[1], "finetune": v.accuracy,
               "finetune CI low": v.ci95[0], "finetune CI high": v.ci95[1],
               "McNemar p vs probe": pr.get("mcnemar_p_finetune_vs_probe")}
        if result.cross_validated:
            row["fold test p vs probe"] = pr.get("fold_test_p_finetune_vs_probe")
        row["best epoch"] = ", ".join(map(str, best)) if isinstance(best, list) else str(best)
        row["stem"] = v.details.get("stem")
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- rendering


def render_options(method: str) -> tuple[list[str], str | None]:
    """Widgets: the models to compare (default: the sidebar's model, which they follow when it changes) and
    BatchNorm re-estimation (for probe and zero-shot; the other methods train their own input layers)."""
    current = state.session().model
    models = st.multiselect("Models (several: a model × variant table)", list(MODELS),
                            **state.accuracy_widget("models", "acc_models"),
                            format_func=lambda n: MODELS[n].label,
                            help="Each model's variants are tested against that model's own reference on the same "
                                 "test items; every variant is resized to each model's own input size when several "
                                 "are chosen. Each model's sweep is recorded as its own run.")
    can_adapt = method in ("probe", "zeroshot")
    adapt = st.checkbox("Also re-estimate BatchNorm statistics per variant (AdaBN)",
                        **state.accuracy_widget("adapt", "acc_adapt"),
                        disabled=not can_adapt,
                        help="On a private copy of the model, every BatchNorm's running mean and variance are "
                             "re-estimated on each fold's training side under the variant; accuracy with and "
                             "without, McNemar between them, BN-shift before/after. Probe and zero-shot only.")
    return models or [current], ("bn" if adapt and can_adapt else None)


def cost_note(plan: dict, method: str, adapt: str | None) -> str | None:
    """Before running: what the remedies cost with this evaluation (re-estimations and trainings per variant)."""
    if plan.get("error") or (adapt is None and method != "finetune"):
        return None
    k = plan["n_folds"]
    per = "one per fold" if k > 1 else "on the training side"
    parts = []
    if adapt:
        parts.append(f"BatchNorm re-estimation: {k} re-estimation{'s' if k > 1 else ''} per distinct variant "
                     f"({per}), each followed by a feature pass over all {plan['n_items']:,} items")
    if method == "finetune":
        parts.append(f"fine-tuning: {k} training{'s' if k > 1 else ''} per distinct variant ({per}; at most "
                     f"{MAX_EPOCHS} epochs of at most {MAX_TRAIN_ITEMS} items each)")
    return "; ".join(parts) + ". Slow on CPU; the progress bar and Stop work throughout."


def render_cost(plan: dict, method: str, adapt: str | None) -> None:
    """``cost_note`` as a caption under the test-item plan, when the remedies cost more than a plain sweep."""
    if adapt and method == "zeroshot" and not plan.get("error") and not plan["given_test"]:
        st.warning("BatchNorm re-estimation needs training items; zero-shot without a separate test set scores "
                   "every item and has none. Upload a dataset with train/ and test/, or choose the probe.",
                   icon=":material/warning:")
        return
    note = cost_note(plan, method, adapt)
    if note:
        st.caption(note)


def _number_config(frame: pd.DataFrame) -> dict:
    """Accuracies and interval ends with three decimals, p-values and BN-shifts with three significant digits."""
    return {c: st.column_config.NumberColumn(c, format="%.3g" if (" p " in f" {c} " or "BN-shift" in c) else "%.3f")
            for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}


def render_remedies(result, *, key: str = "acc") -> None:  # noqa: ANN001 - SweepResult
    """The BatchNorm re-estimation table and the probe-vs-finetune table, when the sweep has them."""
    adapted = adapted_frame(result)
    if adapted is not None:
        st.markdown("**BatchNorm re-estimation (AdaBN)**")
        st.dataframe(adapted, hide_index=True, width="stretch", key=f"{key}_adapted",
                     column_config=_number_config(adapted))
        fold = next((v.adapted.get("bn_shift_fold") for v in result.variants if v.adapted), None) or ""
        fold = fold if fold.startswith("fold") else f"fold {fold}"
        where = (f"each fold's training side (BN-shift measured on {fold}'s)" if result.cross_validated
                 else "the training side")
        st.caption(f"Statistics re-estimated on {where} under each variant, on a private copy of the model; the same "
                   "method then scores the same test items. BN-shift: symmetric Gaussian KL of the layer's BatchNorm "
                   "input over training items vs its running statistics (0 = matched).")
    ft = finetune_frame(result)
    if ft is not None:
        st.markdown("**Fine-tuning vs the linear probe**")
        st.dataframe(ft, hide_index=True, width="stretch", key=f"{key}_finetune", column_config=_number_config(ft))
        st.caption("Both on the same test items; the table above shows the fine-tuned accuracies. McNemar p compares "
                   "finetune with the probe per variant.")
