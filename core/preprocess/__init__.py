"""Preprocessing: the Variant and VariantSet types, presets, and the batched torch pipeline."""

from core.preprocess.presets import get_preset, preset_names
from core.preprocess.variant import Variant, VariantSet

__all__ = ["Variant", "VariantSet", "get_preset", "preset_names"]
