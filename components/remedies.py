"""The Accuracy page's remedies and model comparison: several models at once (a model x variant table and a
grouped chart), BatchNorm re-estimation and fine-tuning results. The sweeps themselves are
``core.evaluate.multimodel``, ``core.evaluate.adabn`` and ``core.evaluate.finetune``.

Pure builders (``model_variant_frame``, ``grouped_accuracy_figure``, ``adapted_frame``, ``finetune_frame``)
make no ``st.*`` calls; the ``render_*`` functions lay them out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.charts import PALETTE


def model_variant_frame(result) -> pd.DataFrame:  # noqa: ANN001 - MultiSweepResult
    """One row per (model, variant), each model's reference first: accuracy, Wilson CI, macro, McNemar p vs that
    model's reference, input size (and the adapted accuracy when BatchNorm was re-estimated)."""
    frame = pd.DataFrame(result.table())
    frame["mcnemar_p"] = frame["mcnemar_p"].astype(float)
    return frame


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
    """Per variant: accuracy without / with BatchNorm re-estimation, the adapted interval, McNemar p between them,
    and the dataset BN-shift of the first and last named layer before -> after; None when nothing was adapted."""
    rows = []
    for v in result.variants:
        a = v.adapted
        if not a:
            continue
        layers = list(a["bn_shift_before"])
        row = {"variant": v.name, "unadapted": v.accuracy, "BN re-estimated": a["accuracy"],
               "95% CI low": a["ci95"][0], "95% CI high": a["ci95"][1],
               "McNemar p vs unadapted": a["mcnemar_p_vs_unadapted"]}
        for name in (layers[0], layers[-1]) if layers else ():
            row[f"BN-shift {name} before"] = a["bn_shift_before"][name]
            row[f"BN-shift {name} after"] = a["bn_shift_after"][name]
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def finetune_frame(result) -> pd.DataFrame | None:  # noqa: ANN001 - SweepResult
    """Per variant: probe vs finetune on the same test items with intervals and McNemar p; None for other methods."""
    if result.method != "finetune":
        return None
    rows = []
    for v in result.variants:
        pr = v.details.get("probe") or {}
        rows.append({"variant": v.name, "probe": pr.get("accuracy"), "probe CI low": pr.get("ci95", [None])[0],
                     "probe CI high": pr.get("ci95", [None, None])[1], "finetune": v.accuracy,
                     "finetune CI low": v.ci95[0], "finetune CI high": v.ci95[1],
                     "McNemar p vs probe": pr.get("mcnemar_p_finetune_vs_probe"),
                     "best epoch": v.details.get("best_epoch"), "stem": v.details.get("stem")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- rendering


def render_options() -> tuple[list[str], str | None]:
    """Widgets: the models to compare (default: the sidebar's model) and BatchNorm re-estimation."""
    import streamlit as st

    from components import state
    from core.models import MODELS

    models = st.multiselect("Models (several: a model × variant table)", list(MODELS), default=[state.session().model],
                            key="acc_models", format_func=lambda n: MODELS[n].label,
                            help="Each model's variants are tested against that model's own reference; every "
                                 "variant is resized to each model's own input size when several are chosen.")
    adapt = st.checkbox("Also re-estimate BatchNorm statistics per variant (AdaBN)", key="acc_adapt",
                        help="On a private copy of the model, every BatchNorm's running mean and variance are "
                             "re-estimated on the training side under the variant; accuracy with and without, "
                             "McNemar between them, BN-shift before/after. Probe and zero-shot only.")
    return models or [state.session().model], ("bn" if adapt else None)


def render_multi_result(result) -> None:  # noqa: ANN001 - MultiSweepResult
    """The model x variant table, the grouped chart, downloads and provenance."""
    import json

    import streamlit as st

    st.subheader("Results: model × variant")
    st.dataframe(model_variant_frame(result), hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(c, format="%.3f") for c in
        ("accuracy", "ci95_low", "ci95_high", "macro_accuracy", "adapted_accuracy")})
    st.caption("Accuracy is micro with a 95% Wilson interval; McNemar p compares each variant with the same model's "
               "reference (first row of each model) on the same test items.")
    st.plotly_chart(grouped_accuracy_figure(result), width="stretch", key="acc_grouped")
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", result.to_csv(), file_name="prepscope-models.csv", mime="text/csv",
                       key="acc_dl_multi_csv", icon=":material/download:")
    c2.download_button("Download JSON", json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                       file_name="prepscope-models.json", mime="application/json", key="acc_dl_multi_json",
                       icon=":material/download:")
    st.caption("Provenance: " + result.provenance_line())


def render_remedies(result) -> None:  # noqa: ANN001 - SweepResult
    """The BatchNorm re-estimation table and the probe-vs-finetune table, when the sweep has them."""
    import streamlit as st

    fmt = {"format": "%.3g"}
    adapted = adapted_frame(result)
    if adapted is not None:
        st.subheader("BatchNorm re-estimation (AdaBN)")
        st.dataframe(adapted, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, **fmt) for c in adapted.columns[1:]})
        st.caption("Statistics re-estimated on the training side under each variant, on a private copy of the model. "
                   "BN-shift: symmetric Gaussian KL of the layer's BatchNorm input over the training items vs its "
                   "running statistics (0 = matched).")
    ft = finetune_frame(result)
    if ft is not None:
        st.subheader("Fine-tuning vs the linear probe")
        st.dataframe(ft, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, **fmt) for c in ft.columns[1:-1]})
