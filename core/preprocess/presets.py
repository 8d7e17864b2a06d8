"""Presets: named variant sets kept as data (``presets/*.json``), not code.

Each file is ``{"description": str, "variants": [...]}`` in exactly the format ``--variants``
accepts, so ``python -m core presets NAME > f.json`` round-trips. Add a preset by adding a file.
A preset that answers a question also says so: ``"question"`` (one line), ``"sample"`` (the bundled
input it opens on), ``"look_for"`` (what to look at) and ``"where"`` (the page, its switches and one sentence: where
the effect shows best); the Start page lists those presets.

A preset may also name saved models to add when present: ``"append_learned": {"task": "gray" |
"denoise", "limit": N, "template": {variant fields with "{name}"}}`` appends one variant per saved
model of that task in the models folder (newest first, at most ``limit``), the template's ``{name}``
replaced by the model's name (``gray-rules`` adds the newest learned gray rule, ``denoise`` the newest
lab denoiser). The printed preset (``presets NAME``) is the expanded set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import InvalidVariant
from core.learned.store import list_models
from core.preprocess.variant import MAX_VARIANTS, Variant, VariantSet

PRESET_DIR = Path(__file__).with_name("presets")


@dataclass(frozen=True)
class WhereToLook:
    """Where a question's effect shows best: a dashboard page (its file name under pages/), the page's switches to
    set (``{"fm_layer": "stem", "fm_diff": true}``) and one sentence saying what to see there."""

    page: str
    options: tuple[tuple[str, Any], ...]
    text: str


@dataclass(frozen=True)
class PresetQuestion:
    """The question a preset answers, the bundled sample it opens on, what to look for and where to look."""

    preset: str
    question: str
    sample: str
    look_for: str
    where: WhereToLook | None = None


@cache
def _load(name: str) -> tuple[str, VariantSet, PresetQuestion | None, dict | None]:
    data = json.loads((PRESET_DIR / f"{name}.json").read_text(encoding="utf-8"))
    q = None
    if data.get("question"):
        w = data.get("where")
        where = None if not w else WhereToLook(str(w["page"]), tuple(dict(w.get("options", {})).items()),
                                               str(w.get("text", "")))
        q = PresetQuestion(name, str(data["question"]), str(data.get("sample", "")), str(data.get("look_for", "")),
                           where)
    return data.get("description", ""), VariantSet.from_obj(data), q, data.get("append_learned")


def _fill(template: Any, name: str) -> Any:
    if isinstance(template, str):
        return template.replace("{name}", name)
    if isinstance(template, list):
        return [_fill(t, name) for t in template]
    if isinstance(template, dict):
        return {k: _fill(v, name) for k, v in template.items()}
    return template


def _expanded(base: VariantSet, append: dict | None) -> VariantSet:
    """The preset's variants plus one per saved model named by its ``append_learned`` entry."""
    if not append:
        return base

    cards = list_models(append["task"])[: int(append.get("limit", 1))]
    extra = [Variant.from_dict(_fill(append["template"], c["name"])) for c in cards]
    extra = [v for v in extra if v.name not in base.names][: MAX_VARIANTS - len(base)]
    return VariantSet.of([*base, *extra]) if extra else base


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def preset_description(name: str) -> str:
    _check(name)
    return _load(name)[0]


def preset_question(name: str) -> PresetQuestion | None:
    """The question the preset answers (None when it declares none)."""
    _check(name)
    return _load(name)[2]


def preset_questions() -> list[PresetQuestion]:
    """Every preset's question, in preset-name order."""
    return [q for name in preset_names() if (q := _load(name)[2]) is not None]


def get_preset(name: str) -> VariantSet:
    """The preset's variant set (reference first), with the saved models it names when present; immutable."""
    _check(name)
    _, base, _, append = _load(name)
    return _expanded(base, append)


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
