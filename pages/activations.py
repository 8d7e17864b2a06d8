"""Activation statistics: every statistic the engine computes and the comparison measures, per layer
and variant, as charts and as a table, with CSV and JSON downloads."""

import streamlit as st

from components import exports, results, shell, state

shell.guard()

st.title("Activation statistics")
st.caption("Per layer, for every variant: activation statistics and how the layer compares with the reference.")

result = results.guarded(state.run_inspect)
label = state.session().input_label
results.render_provenance(result, label)
log_bn = state.bound_widget(st.toggle, "BN shift on a log scale", "stats_log", True,
                            help="One layer's large shift (often the stem) flattens every other on a linear scale.")
table = results.render_statistics(result, key="stats", log_bn_shift=log_bn)
exports.render_downloads(
    result, label, table=table, key="stats_export", png_name="statistics",
    figure="Activation statistics per layer", settings={"bn_shift": "log scale" if log_bn else "linear"},
    png=lambda prov: exports.statistics_png(table, list(result.layer_names), prov, log_bn_shift=log_bn))
