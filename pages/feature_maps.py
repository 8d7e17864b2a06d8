"""Feature maps: the top-k channels of one layer for every variant, ranked once on the reference, with
shared color scales per channel, the channel average and an optional difference to the reference."""

import streamlit as st

from components import exports, layer_tables, results, shell, state

shell.guard()

st.title("Feature maps")
st.caption("What one layer of the network sees for each variant; hover a map for its values.")

result = results.guarded(state.run_inspect)
label = state.session().input_label
results.render_provenance(result, label)
layer, k, diff = results.render_feature_map_controls(result, prefix="fm_")
results.render_feature_maps(result, layer, k, diff, key="fm_chart")
channels = results.rank_channels(result.variants[0].layers[list(result.layer_names).index(layer)].fmap, k)
exports.render_downloads(
    result, label, table=layer_tables.layer_table(result), key="fm_export", png_name=f"feature-maps-{layer}",
    figure=f"Feature maps of layer {layer}" + (" (variant − reference)" if diff else ""),
    settings={"layer": layer, "channels": ", ".join(map(str, channels.tolist())), "difference": diff},
    png=lambda prov: exports.feature_maps_png(result, list(result.layer_names).index(layer), channels, diff, prov))
