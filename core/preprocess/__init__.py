"""Preprocessing: the Variant type, presets, and the batched torch pipeline."""

from core.preprocess.presets import get_preset, preset_names
from core.preprocess.variant import Variant, variants_from_json, variants_to_json

__all__ = ["Variant", "get_preset", "preset_names", "variants_from_json", "variants_to_json"]
