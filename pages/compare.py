"""Compare: every variant's input as the network receives it, its predictions and how far it moves the
network from the reference (agreement, difference images on a per-variant or shared scale, zoomed insets of one
region, similarity / CKA / BN shift per layer). Every switch is a page option, so the page's link reproduces it."""

import streamlit as st

from components import cams, exports, layer_tables, results, shell, state

shell.guard()

st.title("Compare")
st.caption("Each variant side by side as the network receives it; the first variant is the reference.")

result = results.guarded(state.run_inspect)
label = state.session().input_label
results.render_provenance(result, label)
same = results.same_input_groups(result)
view = results.merge_same_inputs(result, same)  # identical network inputs as one variant "a = b"
results.render_same_inputs(same)
results.render_variant_grid(view)

c1, c2, c3, c4 = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
with c1:
    show_diff = state.bound_widget(st.toggle, "Difference images against the reference", "compare_diff", True)
with c2:
    scale = state.bound_widget(st.selectbox, "Difference color scale", "compare_scale", results.DIFF_SCALES[0],
                               options=results.DIFF_SCALES, disabled=not show_diff,
                               help="per variant: each image on its own largest difference, so small effects show; "
                                    "shared: one scale for all, so magnitudes compare. The scale is printed under "
                                    "each image.")
with c3:
    zoom = state.bound_widget(st.selectbox, "Zoom into", "compare_zoom", "off",
                              options=["off", *results.ZOOM_REGIONS],
                              help="The same region of every variant's input, pixels enlarged without smoothing.")
with c4:
    factor = state.bound_widget(st.selectbox, "Zoom", "compare_zoom_x", 4, options=results.ZOOM_FACTORS,
                                format_func=lambda x: f"{x}×", disabled=zoom == "off")
if zoom != "off":
    results.render_zoom(view, zoom, int(factor))
if show_diff and len(view.variants) > 1:
    results.render_differences(view, scale)

st.subheader("How far each variant moves the network")
log_bn = state.bound_widget(st.toggle, "BN shift on a log color scale", "compare_log", True,
                            help="One layer's large shift (often the stem) flattens every other on a linear scale.")
results.render_similarity_summary(view, log_bn_shift=log_bn)

report = None
if state.bound_widget(st.toggle, "Activation maps: where the network looks under each variant", "compare_cam", False):
    st.subheader("Activation maps")
    report = cams.render(result, key="compare_cam", same=same)

panels = exports.ComparePanels(differences=scale if show_diff else None, zoom=None if zoom == "off" else zoom,
                               factor=int(factor))
exports.render_downloads(result, label, table=layer_tables.layer_table(result), key="compare_export",
                         png_name="compare",
                         png=lambda prov: exports.comparison_png(view, prov, panels=panels),
                         settings={**panels.settings(), **({"identical inputs": "; ".join(g.label for g in same)}
                                                           if same else {})},
                         figure="Compare: inputs as the network receives them, with top-1", cams=report,
                         identical=[g.record(result) for g in same])
