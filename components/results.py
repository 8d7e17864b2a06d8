"""Result views shared by the Compare, Feature maps, Statistics and Audio pages.

Pure helpers (no ``st.*`` calls: channel ranking, difference images, agreement, tables) come first
and are unit-tested directly; the ``render_*`` functions below them only lay those results out.
Every view takes an engine ``InspectResult``; the first variant is the reference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from components import charts, state
from components.layer_tables import COMPARISON_MEASURES, MEASURE_HELP, layer_table
from components.text import md
from components.widgets import collect_fields, render_fields
from core.errors import InvalidVariant, PrepscopeError, page_message
from core.models import MODELS
from core.preprocess.recipe import recipe_line, recipe_text, resolve
from core.preprocess.variant import Spectrogram
from core.shared import public_json

if TYPE_CHECKING:
    from core.inspect.engine import InspectResult, VariantResult

#: Columns per row of the side-by-side grid.
GRID_COLUMNS = 4
RANKING_RULE = "channels ranked once on the reference by mean activation (highest first)"


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """How a variant's predictions agree with the reference's."""

    same_top1: bool
    top5_overlap: int
    #: Out of how many: min(5, the number of classes the network ranks).
    k: int = 5

    def sentence(self) -> str:
        """One short line for the page, e.g. ``"same top-1 · top-5 overlap 4/5"`` (``"top-2 overlap 2/2"`` for a
        two-class network)."""
        first = "same top-1" if self.same_top1 else "different top-1"
        return f"{first} · top-{self.k} overlap {self.top5_overlap}/{self.k}"


def agreement(variant: VariantResult, reference: VariantResult) -> Agreement:
    """Compare a variant's predictions with the reference's: whether the top-1 class index is the same,
    and how many of the reference's top-k class indices also appear in the variant's top-k, k = min(5, the number of
    classes the network ranks)."""
    mine = [p.index for p in variant.top5]
    ref = [p.index for p in reference.top5]
    same = bool(mine and ref and mine[0] == ref[0])
    k = max(1, min(5, len(ref), len(mine)))
    return Agreement(same_top1=same, top5_overlap=len(set(mine[:k]) & set(ref[:k])), k=k)


def top1_text(variant: VariantResult) -> str:
    """The visible top-1 line, e.g. ``"top-1: Egyptian cat (37.9%)"``."""
    if not variant.top5:
        return "top-1: (no prediction)"
    p = variant.top5[0]
    return f"top-1: {p.label} ({100 * p.prob:.1f}%)"


def difference_map(display: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """Absolute difference of two displayed inputs, averaged over channels: ``|display - reference|``
    as an (H, W) float32 array in [0, 1], or None when the two inputs do not have the same size (a
    pixel-wise difference would then be meaningless)."""
    a = np.asarray(display, dtype=np.float32)
    b = np.asarray(reference, dtype=np.float32)
    if a.shape[:2] != b.shape[:2]:
        return None
    if a.ndim == 2:
        a = a[..., None]
    if b.ndim == 2:
        b = b[..., None]
    return np.abs(a - b).mean(axis=2).astype(np.float32)


def difference_maps(result: InspectResult) -> tuple[list[np.ndarray | None], float]:
    """Difference images of every variant against the reference plus the shared upper bound of their
    color scale (the largest difference over all variants, at least 1e-6 so a scale always exists).
    The reference's own entry is None."""
    ref = result.variants[0].display
    maps: list[np.ndarray | None] = [None]
    maps += [difference_map(v.display, ref) for v in result.variants[1:]]
    peak = max((float(m.max()) for m in maps if m is not None), default=0.0)
    return maps, max(peak, 1e-6)


@dataclass(frozen=True)
class SameInput:
    """Variants that gave the network bit-identical inputs: their indices in the result, the label ``a = b`` they are
    shown under (as on the Activation statistics and Accuracy pages) and the sentence saying why."""

    members: tuple[int, ...]
    label: str
    reason: str

    def record(self, result: InspectResult) -> dict:
        """The group as the JSON exports write it (``"identical_inputs"``, as in a sweep's JSON)."""
        return {"variants": [result.variants[i].variant.name for i in self.members], "reason": self.reason}


def same_input_groups(result: InspectResult) -> list[SameInput]:
    """The groups of two or more variants whose displayed input, pooled features and every layer's feature map are
    bit-identical (``core.evaluate.sameinput``'s fingerprint): the network received the same input from them. The
    reason comes from their specs where they say it (``sameinput.spec_reason``), else it names the settings in which
    they differ and says that on this input they coincide."""
    from core.evaluate.sameinput import (  # noqa: PLC0415 - torch, not at first paint
        display_rows,
        feature_fingerprint,
        group_by,
        spec_reason,
    )

    keys = [feature_fingerprint(v.display, v.pooled, *(layer.fmap for layer in v.layers if layer.fmap is not None))
            for v in result.variants]
    names = [v.variant.name for v in result.variants]
    groups = group_by(keys)
    spec = MODELS.get(result.model)
    # an unknown model: channel means assumed unequal, so no reason rests on equal normalization
    mean, std = (spec.data_config.mean, spec.data_config.std) if spec is not None else ((0.0, 1.0), (1.0, 2.0))
    out = []
    for label, _, members in display_rows(names, [[names[i] for i in g] for g in groups]):
        if len(members) < 2:
            continue
        variants = [result.variants[i].variant for i in members]
        reason = spec_reason(variants, mean=mean, std=std)
        if reason is None:
            flat = [_flatten({k: v for k, v in x.to_dict().items() if k != "name"}) for x in variants]
            differ = [k for k in dict.fromkeys(k for f in flat for k in f) if len({f.get(k, "—") for f in flat}) > 1]
            settings = ", ".join(f"{k} ({' vs '.join(f.get(k, '—') for f in flat)})" for k in differ)
            what = "sound" if result.provenance.get("kind") == "audio" else "image"
            said = (" and " if len(members) == 2 else ", ").join(names[i] for i in members)
            reason = f"{said} differ in {settings} but give the network bit-identical inputs on this {what}."
        out.append(SameInput(tuple(members), label, reason))
    return out


def merge_same_inputs(result: InspectResult, groups: list[SameInput]) -> InspectResult:
    """The result with each group of identical variants as one variant named ``a = b`` (its first member's numbers
    and spec), in variant order; the result itself when there is no group."""
    if not groups:
        return result
    owner = {g.members[0]: g for g in groups}
    dropped = {m for g in groups for m in g.members[1:]}
    variants = []
    for i, v in enumerate(result.variants):
        if i in dropped:
            continue
        g = owner.get(i)
        # the label may pass the 80-character limit of a name a user types: not validated again
        variants.append(v if g is None else replace(v, variant=v.variant.model_copy(update={"name": g.label})))
    return replace(result, variants=variants)


#: How difference images are scaled: each to its own largest difference, or all to the largest of any.
DIFF_SCALES = ("per variant", "shared")


def difference_scales(maps: list[np.ndarray | None], mode: str) -> list[float | None]:
    """The upper end of each difference image's color scale: its own largest difference (``per variant``: a
    small effect is visible whatever the others do) or the largest of all (``shared``: magnitudes compare across
    variants); at least 1e-6. None where there is no image."""
    peak = max((float(m.max()) for m in maps if m is not None), default=0.0)
    return [None if m is None else max(float(m.max()) if mode == DIFF_SCALES[0] else peak, 1e-6) for m in maps]


#: Where a zoom inset looks: (x, y) of its center as fractions of the image, by name.
ZOOM_REGIONS = {"top left": (0.2, 0.2), "top": (0.5, 0.2), "top right": (0.8, 0.2), "left": (0.2, 0.5),
                "center": (0.5, 0.5), "right": (0.8, 0.5), "bottom left": (0.2, 0.8), "bottom": (0.5, 0.8),
                "bottom right": (0.8, 0.8)}
ZOOM_FACTORS = (2, 4, 8)


def zoom_crop(image: np.ndarray, region: str, factor: int, out_px: int = 224) -> np.ndarray:
    """The part of ``image`` (H x W or H x W x C) around ``ZOOM_REGIONS[region]`` covering 1/``factor`` of each side,
    enlarged by pixel repetition (no interpolation: the pixels as they are) to about ``out_px``. The same
    fractions are used for every variant, so inputs of different sizes show the same part of the scene."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    cx, cy = ZOOM_REGIONS[region]
    ch, cw = max(1, round(h / factor)), max(1, round(w / factor))
    top = int(np.clip(round(cy * h - ch / 2), 0, h - ch))
    left = int(np.clip(round(cx * w - cw / 2), 0, w - cw))
    crop = img[top:top + ch, left:left + cw]
    rep = max(1, out_px // max(ch, cw))
    return np.repeat(np.repeat(crop, rep, axis=0), rep, axis=1)


def colorize_difference(diff: np.ndarray, vmax: float) -> np.ndarray:
    """Map a difference image to RGB with the 'magma' colormap on the shared scale [0, vmax]."""
    from matplotlib import colormaps

    scaled = np.clip(diff / max(vmax, 1e-6), 0.0, 1.0)
    return colormaps["magma"](scaled)[..., :3].astype(np.float32)


def rank_channels(reference_fmap: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` channels with the highest mean activation in the reference's (C, h, w)
    feature map, highest first (ties broken by the lower index). Ranking once on the reference makes
    the same channels line up across all variants."""
    fmap = np.asarray(reference_fmap, dtype=np.float32)
    if fmap.ndim != 3:
        raise ValueError(f"expected a (C, h, w) feature map, got shape {fmap.shape}")
    k = max(1, min(int(k), fmap.shape[0]))
    means = fmap.reshape(fmap.shape[0], -1).mean(axis=1)
    order = np.lexsort((np.arange(len(means)), -means))
    return order[:k]


def summary_table(result: InspectResult) -> pd.DataFrame:
    """Compact per-variant summary: agreement with the reference, mean and last-layer similarity and
    CKA, and mean BN shift over layers."""
    ref = result.variants[0]
    rows = []
    for v in result.variants:
        a = agreement(v, ref)
        sim = np.array([layer.similarity for layer in v.layers], dtype=float)
        cka = np.array([np.nan if layer.cka is None else layer.cka for layer in v.layers], dtype=float)
        bn = np.array([np.nan if layer.bn_shift is None else layer.bn_shift for layer in v.layers], dtype=float)
        rows.append(
            {
                "variant": v.variant.name,
                "top-1": f"{v.top5[0].label} ({100 * v.top5[0].prob:.1f}%)" if v.top5 else "",
                "same top-1": a.same_top1,
                "top-5 overlap": a.top5_overlap,
                "mean similarity": _nanmean(sim),
                "last-layer similarity": float(sim[-1]) if len(sim) else float("nan"),
                "mean CKA": _nanmean(cka),
                "mean BN shift": _nanmean(bn),
            }
        )
    return pd.DataFrame(rows)


def upload_summary(result: InspectResult) -> str:
    """One line on how far the variants move the network from the reference on this input: how many change the
    top-1 (naming up to three) and the range of the head's similarity (cosine of pooled features) to the reference."""
    ref, others = result.variants[0], result.variants[1:]
    if not others:
        return "One variant only: add variants in the sidebar to see what preprocessing changes."
    changed = [v.variant.name for v in others if not agreement(v, ref).same_top1]
    if changed:
        names = ", ".join(changed[:3]) + (" …" if len(changed) > 3 else "")
        first = f"{len(changed)} of {len(others)} variants change the top-1 ({names})"
    else:
        first = f"None of the {len(others)} other variants changes the top-1"
    head = [v.layers[-1].similarity for v in others]
    return f"{first}; the head's similarity to the reference ranges {min(head):.3f}–{max(head):.3f}."


def _nanmean(a: np.ndarray) -> float:
    return float(np.nanmean(a)) if len(a) and not np.all(np.isnan(a)) else float("nan")


def provenance_caption(result: InspectResult, input_label: str) -> str:
    """The line under every view saying what produced its numbers: model, input and its digest."""
    digest = result.provenance.get("digest", "")
    names = ", ".join(v.variant.name for v in result.variants)
    return (
        f"Model **{md(result.model)}** ({md(result.model_description)}) · input **{md(input_label)}**"
        + (f" (digest `{digest}`)" if digest else "")
        + f" · variants: {md(names)} (reference: {md(result.variants[0].variant.name)})"
    )


def recipe_note(result: InspectResult, index: int) -> str | None:
    """The one line saying whether variant ``index`` follows the model's training recipe
    (``core.preprocess.recipe``), or None for a model the registry does not know."""
    spec = MODELS.get(result.model)
    return None if spec is None else recipe_line(result.variants[index].variant, spec)


def model_recipe_caption(result: InspectResult) -> str | None:
    """The model's own recipe in words, for the Compare caption (None for an unknown model)."""
    spec = MODELS.get(result.model)
    return None if spec is None else f"{result.model}'s training recipe: {recipe_text(spec)}"


def sound_length(result: InspectResult) -> tuple[int, int] | None:
    """(samples, sample rate) of the sound a result was computed from, or None for an image."""
    p = result.provenance
    if p.get("kind") != "audio" or not p.get("sample_rate"):
        return None
    return round(float(p["duration_s"]) * int(p["sample_rate"])), int(p["sample_rate"])


def channel_planes(variant: VariantResult) -> list[tuple[str, np.ndarray]] | None:
    """For a ``multi-window`` or ``deltas`` variant, its three channels as (label, H x W image in [0, 1]) as
    the network receives them (before normalization); None for other channel strategies."""
    from core.preprocess.channels import channel_labels  # noqa: PLC0415 - torch, not at first paint

    labels = channel_labels(variant.variant)
    if labels is None:
        return None
    disp = np.asarray(variant.display, dtype=np.float32)
    return [(f"channel {c + 1}: {label}", np.clip(disp[..., c], 0.0, 1.0)) for c, label in enumerate(labels)]


def provenance_json(result: InspectResult, input_label: str) -> str:
    """Everything that produced a view as indented JSON: model, input (label and provenance), the variant specs."""
    return public_json({"model": result.model, "model_description": result.model_description, "input": input_label,
                        "input_provenance": result.provenance,
                        "variants": [v.variant.to_dict() for v in result.variants]}, default=str)


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """A spec as ``{"resize.size": "224", "degrade": "[...]", …}``: nested objects by dotted path, lists as JSON."""
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    text = "—" if obj is None else obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return {prefix.rstrip("."): text}


def differing_fields(result: InspectResult) -> pd.DataFrame:
    """The fields in which the variants differ, one row per variant (name first): the compact answer to "what
    produced these numbers" (every other field is the same for all). A field a variant does not set is "—"."""
    flat = [_flatten({k: v for k, v in r.variant.to_dict().items() if k != "name"}) for r in result.variants]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differ = [k for k in keys if len({f.get(k, "—") for f in flat}) > 1]
    rows = [{"variant": r.variant.name, **{k: f.get(k, "—") for k in differ}} for r, f in zip(result.variants, flat,
                                                                                               strict=True)]
    return pd.DataFrame(rows, columns=["variant", *differ])


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render_provenance(result: InspectResult, input_label: str, *, key: str = "prov") -> None:
    """Caption with model, input and variants, plus an expander "What produced these numbers": a compact table of the
    fields in which the variants differ (``differing_fields``) and the full JSON (specs and input provenance) as a
    download."""
    st.caption(provenance_caption(result, input_label))
    with st.expander("What produced these numbers: the settings that differ between variants"):
        table = differing_fields(result)
        if len(table.columns) > 1:
            st.dataframe(table, hide_index=True, width="stretch")
        else:
            st.caption("The variants differ only in their names.")
        st.download_button("Full variant specs and input provenance (JSON)", provenance_json(result, input_label),
                            file_name="prepscope-provenance.json", mime="application/json", on_click="ignore",
                            icon=":material/download:", key=f"{key}_json")


def render_same_inputs(groups: list[SameInput]) -> None:
    """One note naming the groups of variants with identical network inputs (each shown as one column and row named
    ``a = b`` below), a line per group saying why; nothing when there is none."""
    if groups:
        st.info("  \n".join(["Identical network inputs, shown as one column and one row below:"]
                            + [f"**{md(g.label)}**: {md(g.reason)}" for g in groups]), icon=":material/merge:")


def render_variant_grid(result: InspectResult, *, columns: int = GRID_COLUMNS) -> None:
    """Each variant's input as the network receives it, side by side (wrapping at ``columns`` per row), with one
    line on the model's recipe, its top-1, agreement with the reference and its top-5 as compact lines, so four
    variants fit a laptop screen with their predictions."""
    ref = result.variants[0]
    sound = sound_length(result)
    recipe = model_recipe_caption(result)
    st.markdown(f"**Reference {md(top1_text(ref))}**")
    if recipe:
        st.caption(md(recipe))
    for start in range(0, len(result.variants), columns):
        cols = st.columns(columns)
        for col, vi in zip(cols, range(start, min(start + columns, len(result.variants))), strict=False):
            v = result.variants[vi]
            with col:
                caption = f"{v.variant.name} (reference)" if vi == 0 else v.variant.name
                if sound is not None:  # a spectrogram: with its time and frequency axes
                    st.plotly_chart(charts.spectrogram_figure(v.display, charts.spectrogram_axes(
                        v.variant, sound[0], sound[1], v.display.shape[1])), width="stretch", key=f"spec_{vi}",
                        config={"displayModeBar": False})
                    st.caption(md(caption))
                else:
                    st.image(np.clip(v.display, 0.0, 1.0), caption=md(caption), width="stretch")
                planes = channel_planes(v)
                if planes:
                    for label, plane in planes:
                        st.image(plane, caption=label, width="stretch", clamp=True)
                if v.variant.channels == "colormap" and v.variant.colormap:
                    st.plotly_chart(charts.colormap_curves(v.variant.colormap), width="stretch",
                                    key=f"cmap_{vi}_{v.variant.colormap}", config={"displayModeBar": False})
                note = recipe_note(result, vi)
                agree = "reference" if vi == 0 else agreement(v, ref).sentence()
                recipe_short = "" if not note else (
                    " · ⚠ recipe: " + note.split(": ", 1)[-1] if note.startswith("differs") else " · ✓ recipe")
                st.markdown(f"**{md(top1_text(v))}**")
                st.caption("  \n".join([md(agree + recipe_short)] + [f"{i + 1}\\. {md(p.label)} — {100 * p.prob:.1f}%"
                                                                    for i, p in enumerate(v.top5)]))


def render_differences(result: InspectResult, mode: str, *, columns: int = GRID_COLUMNS) -> None:
    """The difference image of every variant against the reference, each on the scale ``mode`` says
    (``DIFF_SCALES``) with that scale printed under it; none where the input size differs."""
    st.markdown("**Difference images against the reference** — " + (
        "each on its own color scale (its largest difference = brightest), printed under it"
        if mode == DIFF_SCALES[0] else "all on one color scale, so brightness compares across variants"))
    maps, _ = difference_maps(result)
    scales = difference_scales(maps, mode)
    others = list(range(1, len(result.variants)))
    for start in range(0, len(others), columns):
        cols = st.columns(columns)
        for col, vi in zip(cols, others[start:start + columns], strict=False):
            d, vmax, name = maps[vi], scales[vi], result.variants[vi].variant.name
            with col:
                if d is None:
                    st.caption(md(f"{name}: no difference image (the input size differs from the reference)."))
                    continue
                st.image(colorize_difference(d, vmax), width="stretch",
                         caption=md(f"{name}: |Δ| mean {d.mean():.4f} · color scale 0–{vmax:.4f}"
                                    + (" (its own)" if mode == DIFF_SCALES[0] else " (shared)")))


def render_zoom(result: InspectResult, region: str, factor: int, *, columns: int = GRID_COLUMNS) -> None:
    """The same region of every variant's input (``zoom_crop``), side by side, pixels enlarged without smoothing."""
    st.markdown(f"**Zoom: {region}, {factor}×** — the same part of every input, pixels enlarged without smoothing")
    for start in range(0, len(result.variants), columns):
        cols = st.columns(columns)
        for col, vi in zip(cols, range(start, min(start + columns, len(result.variants))), strict=False):
            v = result.variants[vi]
            h, w = v.display.shape[:2]
            col.image(np.clip(zoom_crop(v.display, region, factor), 0.0, 1.0), width="stretch",
                      caption=md(f"{v.variant.name}: {region}, {factor}× ({round(w / factor)}×{round(h / factor)} px "
                                 "of its input)"))


def render_similarity_summary(result: InspectResult, *, log_bn_shift: bool = True) -> None:
    """Compact table of agreement and similarity per variant and a variants x layers heatmap of the
    similarity (cosine), CKA and BN-shift measures (BN shift on a log color scale unless ``log_bn_shift`` is False)."""
    st.dataframe(summary_table(result), hide_index=True, width="stretch", column_config=_number_columns(
        {m: m for m in ("mean similarity", "last-layer similarity", "mean CKA", "mean BN shift")}, "%.3f"))
    st.plotly_chart(charts.measures_heatmap(result, log_bn_shift=log_bn_shift), width="stretch",
                    key="similarity_heatmap")
    st.caption(" · ".join(f"**{m}**: {MEASURE_HELP[m]}" for m in COMPARISON_MEASURES))


def _number_columns(labels: dict[str, str], fmt: str = "%.4g") -> dict:
    return {k: st.column_config.NumberColumn(v, format=fmt, width="small") for k, v in labels.items()}


#: Short headers so the tables fit their container; the help line under each table says what they mean.
STAT_LABELS = {"mean": "mean", "std": "std", "min": "min", "max": "max", "zero_fraction": "zero frac.",
               "saturated_fraction": "saturated", "dead_channel_fraction": "dead ch.", "l2_norm": "L2 norm",
               "similarity": "similarity", "cka": "CKA", "bn_shift": "BN shift"}


def render_feature_map_controls(result: InspectResult, *, prefix: str = "fm_") -> tuple[str, int, bool]:
    """Widgets for the feature-map view (layer, number of channels, difference mode), persisted as
    page options so a URL reproduces the view. Returns ``(layer, k, diff)``."""
    names = list(result.layer_names)
    default_layer = names[len(names) // 2] if names else ""
    stored = state.get_page_option(f"{prefix}layer", default_layer)
    index = names.index(stored) if stored in names else names.index(default_layer)
    c1, c2, c3 = st.columns([2, 2, 1])
    layer = c1.selectbox("Layer", names, index=index, key=f"{prefix}layer_widget")
    k_default = int(_as_int(state.get_page_option(f"{prefix}k", 6), 6))
    k = c2.slider("Channels (top-k)", 1, 16, min(max(k_default, 1), 16), key=f"{prefix}k_widget")
    diff = c3.toggle(
        "Difference to reference",
        value=_as_bool(state.get_page_option(f"{prefix}diff", False)),
        key=f"{prefix}diff_widget",
    )
    state.set_page_option(f"{prefix}layer", layer)
    state.set_page_option(f"{prefix}k", int(k))
    state.set_page_option(f"{prefix}diff", bool(diff))
    return layer, int(k), bool(diff)


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def render_feature_maps(result: InspectResult, layer: str, k: int, diff: bool, *, key: str = "fmaps") -> None:
    """Top-k channels of one layer for every variant (ranked once on the reference) and their
    channel average as plotly heatmaps with hover values; ``diff`` shows variant minus reference."""
    li = list(result.layer_names).index(layer)
    ref_fmap = result.variants[0].layers[li].fmap
    if ref_fmap is None:
        st.info(f"The engine kept no feature map for layer {layer}.")
        return
    if diff and len(result.variants) < 2:
        st.info("Add a second variant to see differences to the reference.")
        diff = False
    channels = rank_channels(ref_fmap, k)
    st.caption(
        f"Layer **{layer}**: {RANKING_RULE}: channels {', '.join(map(str, channels.tolist()))}. "
        + (
            "Showing variant − reference, symmetric color scale per row."
            if diff
            else "One color scale per row (shared by all variants); last row: mean over all channels."
        )
    )
    st.plotly_chart(charts.feature_map_figure(result, li, channels, diff=diff), width="stretch", key=key)


def render_statistics(result: InspectResult, *, key: str = "stats", log_bn_shift: bool = True) -> pd.DataFrame:
    """Per layer x variant plotly charts of every activation statistic and comparison measure (identical variants
    as one line, BN shift on a log axis unless ``log_bn_shift`` is False), and the table of the same numbers with
    short headers that fit the page. Returns the table (for downloads)."""
    table = layer_table(result)
    st.plotly_chart(charts.statistics_figure(table, list(result.layer_names), log_bn_shift=log_bn_shift),
                    width="stretch", key=f"{key}_chart")
    st.dataframe(table.drop(columns=["variant_index", "layer_index"]), hide_index=True, width="stretch",
                 column_config={"variant": st.column_config.TextColumn("variant", width="medium"),
                                "layer": st.column_config.TextColumn("layer", width="small"),
                                **_number_columns(STAT_LABELS)})
    st.caption(" · ".join(f"**{m}**: {MEASURE_HELP[m]}" for m in COMPARISON_MEASURES))
    return table


def guarded(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and turn a PrepscopeError into an ``st.error`` with its message, stopping the page."""
    try:
        return fn()
    except PrepscopeError as e:
        st.error(md(page_message(e)))
        st.stop()


# ---------------------------------------------------------------------------------------------
# Audio: spectrogram settings shared by all variants
# ---------------------------------------------------------------------------------------------


def shared_spectrogram(variants: list) -> tuple[Any, bool]:
    """The spectrogram spec the form starts from (the reference's, or the default when it has none) and
    whether all variants currently use that same spec."""
    specs = [v.spectrogram or Spectrogram() for v in variants]
    return specs[0], all(s == specs[0] for s in specs)


def with_spectrogram(variants: list, spec: Any) -> list:
    """The variant set with one spectrogram spec set on every variant (names and order kept)."""
    return [v.replace(spectrogram=spec) for v in variants]


def shared_resize(variants: list, model_spec: Any) -> tuple[Any, bool]:
    """The resize and fit the form starts from (the reference's, with ``"model"`` spelled out as the model's recipe)
    and whether all variants use it."""
    sizes = [v.resize for v in resolve(variants, model_spec)]
    return sizes[0], all(r == sizes[0] for r in sizes)


def with_resize(variants: list, resize: Any) -> list:
    """The variant set with one resize and fit on every variant (names and order kept)."""
    return [v.replace(resize=resize) for v in variants]


def analysis_rate_notice(variants: list, file_rate: int) -> str | None:
    """One sentence when a spectrogram analyses the sound at another rate than the file's: above a low file rate's
    Nyquist frequency there is nothing (an empty band at the top); a lower analysis rate drops the file's highs."""
    rates = sorted({(v.spectrogram or Spectrogram()).sample_rate for v in variants})
    if rates == [file_rate]:
        return None
    said = " and ".join(f"{r} Hz" for r in rates)
    text = f"The sound is sampled at {file_rate} Hz; the spectrogram analyses it at {said}. "
    if rates[-1] > file_rate:
        text += (f"Above {file_rate / 2:g} Hz (the file's Nyquist frequency) the file holds nothing, so the top "
                 f"of the spectrogram is an empty band.")
    else:
        text += f"Everything the file holds above {rates[0] / 2:g} Hz is dropped."
    return text


def at_file_rate(variants: list, file_rate: int) -> list:
    """Every variant's spectrogram analysing the sound at the file's own rate (an ``fmax`` above the new Nyquist
    frequency is cleared: Nyquist)."""
    out = []
    for v in variants:
        spec = v.spectrogram or Spectrogram()
        fmax = spec.fmax if spec.fmax is not None and spec.fmax <= file_rate / 2 else None
        out.append(v.replace(spectrogram=spec.replace(sample_rate=file_rate, fmax=fmax)))
    return out


def render_spec_form(cls: type, current: Any, *, key: str, columns: int = 4) -> Any | None:
    """A form with one widget per field of the spec class ``cls`` (``Spectrogram``, ``Resize``), drawn by the shared
    widget dispatch from the field declarations, and "Apply to all variants". Returns the new, validated spec when
    submitted, None otherwise; a combination the spec refuses is shown as an error. Widget keys carry a digest of
    ``current``, so when the variant set's spec changes elsewhere (a preset, the editor) the form shows the new one."""
    prefix = f"{key}:{hashlib.sha256(current.to_json().encode()).hexdigest()[:8]}:"
    with st.form(key):
        render_fields(cls, current, prefix, {}, columns=columns)
        submitted = st.form_submit_button("Apply to all variants", type="primary")
    if not submitted:
        return None
    try:
        return cls.from_dict(collect_fields(cls, current, prefix))
    except InvalidVariant as e:
        st.error(md(page_message(e)))
        return None
