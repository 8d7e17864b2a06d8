"""The model's own input recipe: ``"resize": "model"`` expanded, and how a variant departs from it.

A variant may say ``"resize": "model"``: resize the way the weights were evaluated, as the model's
pretrained data config says (``ModelSpec.data_config``: input size, interpolation, crop_pct). That
needs the model, so it is expanded in one explicit step, ``resolve(variants, model)``, which every
entry point calls before preprocessing: the engine's ``inspect``, the sweep, activation maps and check
(through ``for_network``, which first refuses a channel strategy the network cannot take), and pages that
read a variant's resize. Everything downstream (preprocessing, cache keys, exports) sees the expanded
``Resize``, so results record what was actually computed.

The expansion: ``Resize(size=input_size, method=interpolation, antialias=True, backend="torch",
fit="shorter-side+center-crop", crop_pct=crop_pct)`` — timm's eval transform (scale the shorter side
to ``floor(input_size / crop_pct)``, center-crop ``input_size``). timm applies it to PIL images;
torchvision's antialiased resize reproduces Pillow's kernels to within 8-bit rounding, and the torch
backend is the fast one here. An interpolation torch lacks (lanczos) uses the pil backend.

Resolving is also where a variant meets the files it names: a ``Variant`` is pure data (its ``spec_key`` reads
nothing), while ``cache_key`` (the key of the resolved variant) adds the weights digest of every saved model it
names (a learned gray rule, a lab denoiser: ``core.learned.store.weights_digest``). Every cache that outlives a
call keys on it (the feature cache, the inspect and activation-map caches, AdaBN's and the check's), so
retraining a model under the same name is a new key and a stale result is never served; a variant that names no
saved model has ``cache_key == spec_key``, so those keys never changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from core.errors import InvalidVariant
from core.learned.store import weights_digest
from core.models.specs import IMAGENET_MEAN, IMAGENET_STD, DataConfig
from core.preprocess.variant import BACKEND_CAPS, NETWORK_CHANNELS, Resize, Variant, VariantSet

T = TypeVar("T", VariantSet, list)


def data_config_of(model: Any) -> DataConfig:
    """The data config of a ``LoadedModel``, a ``ModelSpec``, or a ``DataConfig`` itself."""
    if isinstance(model, DataConfig):
        return model
    spec = getattr(model, "spec", model)
    return spec.data_config


def model_resize(model: Any) -> Resize:
    """The ``Resize`` that reproduces the model's pretrained recipe (see the module docstring)."""
    dc = data_config_of(model)
    method = str(dc.interpolation)
    backend = next((b for b in ("torch", "pil") if method in BACKEND_CAPS[b]), None)
    if backend is None:
        raise InvalidVariant(f"The model's recipe asks for interpolation {method!r}, which no resize backend offers; "
                             "give the variant an explicit resize instead of \"model\".")
    return Resize(size=int(dc.input_size), method=method, antialias=True, backend=backend,
                  fit="shorter-side+center-crop", crop_pct=float(dc.crop_pct))


def check_channels(variant: Variant, model: Any) -> None:
    """Refuse a channel strategy the model's input cannot take (``native`` on a three-channel network); a bare
    ``DataConfig`` says nothing about channels and passes. ``for_network`` calls it; ``resolve`` alone does not, so
    a form that only reads a variant's resize never raises on a channel choice."""
    spec = getattr(model, "spec", model)
    needed = NETWORK_CHANNELS.get(variant.channels)
    have = getattr(spec, "in_chans", None)
    if needed is None or have is None or have == needed:
        return
    raise InvalidVariant(
        f"Variant {variant.name!r} uses channels {variant.channels!r}, which feeds the gray image as the single "
        f"channel of a one-channel network, but {spec.name} takes {have} channels; use replicate (gray copied to "
        "its channels) or conv-sum (its first conv summed to one channel, as timm builds a one-channel network) "
        "instead, or pick a network card with in_chans 1.")


def resolve_variant(variant: Variant, model: Any) -> Variant:
    """The variant with ``"resize": "model"`` replaced by the model's recipe (unchanged otherwise)."""
    if variant.resize == "model":
        return variant.replace(resize=model_resize(model))
    return variant


def weights_key(variant: Variant) -> str:
    """``""`` for a variant that names no saved model, else ``|models:TASK:NAME:SHA256,...`` in the variant's order
    (the card's weights digest, ``"missing"`` or ``"invalid"`` when there is no valid card)."""
    refs = variant.model_refs()
    if not refs:
        return ""
    return "|models:" + ",".join(f"{task}:{name}:{weights_digest(name)}" for task, name in refs)


def cache_key(variant: Variant) -> str:
    """What a cache that outlives one call keys a variant on: ``spec_key`` plus the digests of the saved models it
    names (see the module docstring). Call it on the resolved variant (``resolve``), as the caches do."""
    return variant.spec_key() + weights_key(variant)


def resolve(variants: T | Iterable[Variant], model: Any) -> Any:
    """Every variant resolved against ``model``: a VariantSet for a VariantSet, else a list."""
    out = [resolve_variant(v, model) for v in variants]
    return VariantSet.of(out) if isinstance(variants, VariantSet) else out


def for_network(variants: T | Iterable[Variant], model: Any) -> Any:
    """``resolve``, after refusing a variant whose channel strategy the model cannot take (``check_channels``):
    what the engine's entry points (inspect, sweep, activation maps, check) call before the network runs."""
    variants = variants if isinstance(variants, VariantSet) else list(variants)
    for v in variants:
        check_channels(v, model)
    return resolve(variants, model)


def recipe_differences(variant: Variant, model: Any) -> list[str]:
    """Where a variant departs from the model's training recipe, in words: among ``size``,
    ``interpolation``, ``antialias``, ``crop`` (crop_pct or fit) and ``normalization``. Empty when it
    follows the recipe. ``"resize": "model"`` follows it by definition."""
    dc = data_config_of(model)
    v = resolve_variant(variant, dc)
    r = v.resize
    out = []
    if r.size != dc.input_size:
        out.append("size")
    if r.method != dc.interpolation:
        out.append("interpolation")
    if not r.antialias:
        out.append("antialias")
    if r.fit != "shorter-side+center-crop" or abs(r.crop_pct - dc.crop_pct) > 1e-6:
        out.append("crop")
    if v.normalize == "none":
        out.append("normalization")
    elif v.normalize == "imagenet" and not _same(dc.mean, dc.std, IMAGENET_MEAN, IMAGENET_STD):
        out.append("normalization")
    return out


def recipe_line(variant: Variant, model: Any) -> str:
    """One line for Compare: ``differs from the model's training recipe in: interpolation, crop``."""
    diff = recipe_differences(variant, model)
    if not diff:
        return "follows the model's training recipe"
    return "differs from the model's training recipe in: " + ", ".join(diff)


def recipe_text(model: Any) -> str:
    """The recipe in words, e.g. ``224 px, bicubic, crop_pct 0.875 (shorter side to 256, center crop)``."""
    dc = data_config_of(model)
    r = model_resize(dc)
    return (f"{dc.input_size} px, {dc.interpolation}, crop_pct {dc.crop_pct:g} (shorter side to {r.scale_size}, "
            f"center crop {dc.input_size}), mean {list(dc.mean)}, std {list(dc.std)}")


def _same(m1: Any, s1: Any, m2: Any, s2: Any) -> bool:
    return all(abs(a - b) < 1e-6 for a, b in zip([*m1, *s1], [*m2, *s2], strict=True))
