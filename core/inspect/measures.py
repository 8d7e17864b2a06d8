"""The names of the numbers the inspect engine computes per variant and layer (no torch: the dashboard's first
paint and its tables read them before the engine is loaded)."""

#: Activation statistics of one layer's feature maps.
STATS = ("mean", "std", "min", "max", "zero_fraction", "saturated_fraction", "dead_channel_fraction", "l2_norm")
#: Layer-wise comparison measures against the reference variant (and the layer's BatchNorm statistics).
COMPARISON_MEASURES = ("similarity", "cka", "bn_shift")
