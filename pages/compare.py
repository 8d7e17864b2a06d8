"""Compare: every variant's input as the network receives it, its predictions and how far it moves the
network from the reference (agreement, difference image, similarity / CKA / BN shift per layer)."""

import streamlit as st

from components import exports, results, shell, state

shell.guard()

st.title("Compare")
st.caption("Each variant side by side as the network receives it; the first variant is the reference.")

result = results.guarded(state.run_inspect)
label = state.session().input_label
results.render_provenance(result, label)
show_diff = state.bound_widget(st.toggle, "Difference images against the reference", "compare_diff", True)
results.render_variant_grid(result, show_difference=show_diff)

st.subheader("How far each variant moves the network")
log_bn = state.bound_widget(st.toggle, "BN shift on a log color scale", "compare_log", True,
                            help="One layer's large shift (often the stem) flattens every other on a linear scale.")
results.render_similarity_summary(result, log_bn_shift=log_bn)

st.subheader("Export")
exports.render_downloads(result, label, table=results.layer_table(result), key="compare_export", png_name="compare",
                         png=lambda prov: exports.comparison_png(result, prov),
                         figure="Compare: inputs as the network receives them, with top-1")
