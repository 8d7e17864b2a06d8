"""Presets: named variant sets kept as data (``presets/*.json``), not code.

Each file is ``{"description": str, "variants": [...]}`` in exactly the format ``--variants``
accepts, so ``python -m core presets NAME > f.json`` round-trips. Add a preset by adding a file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from core.errors import InvalidVariant
from core.preprocess.variant import VariantSet

PRESET_DIR = Path(__file__).with_name("presets")


@cache
def _load(name: str) -> tuple[str, VariantSet]:
    data = json.loads((PRESET_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data.get("description", ""), VariantSet.from_obj(data)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def preset_description(name: str) -> str:
    _check(name)
    return _load(name)[0]


def get_preset(name: str) -> VariantSet:
    """The preset's variant set (reference first); immutable, so it is shared safely."""
    _check(name)
    return _load(name)[1]


def matching_preset(variants: VariantSet) -> str | None:
    """The name of the preset this variant set equals exactly (order and names included), or None."""
    key = variants.to_json()
    return next((name for name in preset_names() if get_preset(name).to_json() == key), None)


def _check(name: str) -> None:
    if name not in preset_names():
        raise InvalidVariant(f"Unknown preset {name!r}; available: {', '.join(preset_names())}.")


def load_variant_set(variants_file: str | None, preset: str | None, default_preset: str) -> VariantSet:
    """The variant set a command line asked for: a JSON file, else a preset, else the default preset."""
    if variants_file:
        return VariantSet.from_file(variants_file)
    return get_preset(preset or default_preset)
