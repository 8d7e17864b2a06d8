"""What the model's recipe and the variant set do to this set: geometry, analysis rate, normalization, BN-shift.

Geometry is computed from each image's size (after its EXIF orientation), exactly as
``core.preprocess.pipeline.resize_batch`` fits it: shorter side scaled to ``Resize.scale_size`` and the center
``size`` kept, or stretched to a square, or letterboxed. Nothing is decoded for it. The channel statistics are
the file pass's (decoded arrays); the dataset BN-shift per layer is ``core.evaluate.adabn``'s measurement on a
seeded subset of readable items under the reference variant, on a private copy of the model, kept beside
the feature cache.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from core import __version__
from core.check.files import channel_stats, ref
from core.check.report import Finding
from core.evaluate.datasets import Dataset
from core.evaluate.features import FeatureCache, model_fingerprint, prepared_batches
from core.evaluate.methods.adabn import batch_tensors, dataset_bn_shift
from core.models.specs import IMAGENET_MEAN, IMAGENET_STD
from core.preprocess.recipe import cache_key
from core.preprocess.variant import Resize, Variant

#: Findings start here: share of area cropped away, aspect distortion, padding share, channel-mean gap to
#: ImageNet (in units of the model's std), channel-std ratio to ImageNet.
CROP_LOST, DISTORTION, PADDING, MEAN_GAP, STD_RATIO = 0.25, 1.25, 0.25, 0.25, 1.5
#: BN-shift is measured on at most this many items; a stem BN-shift above ``BN_SHIFT_LIMIT`` is a finding.
BN_ITEMS, BN_SHIFT_LIMIT = 64, 1.0


def geometry(width: int, height: int, r: Resize) -> dict:
    """What ``r`` does to a ``width`` x ``height`` image: ``scale`` (the larger axis factor; above 1 = enlarged),
    ``area_lost`` (share of the image outside the kept square), ``distortion`` (ratio of the axis factors) and
    ``padding`` (share of the output that is letterbox padding)."""
    s, out = r.scale_size, r.size
    if r.fit == "stretch":
        sx, sy = s / width, s / height
        return {"scale": max(sx, sy), "area_lost": 1 - (out / s) ** 2, "distortion": max(sx, sy) / min(sx, sy),
                "padding": 0.0}
    if r.fit == "letterbox":
        k = s / max(width, height)
        return {"scale": k, "area_lost": 0.0, "distortion": 1.0,
                "padding": 1 - (width * k) * (height * k) / (out * out)}
    k = s / min(width, height)
    return {"scale": k, "area_lost": 1 - (out * out) / (width * k * height * k), "distortion": 1.0, "padding": 0.0}


def _upright(f: dict) -> tuple[int, int]:
    w, h = f["width"], f["height"]
    return (h, w) if f.get("exif_orientation", 1) in (5, 6, 7, 8) else (w, h)


def recipe_findings(ok: list[dict], variants: list[Variant], model, kind: str) -> tuple[list[Finding], dict]:
    """Findings for the reference variant's resize (or the sounds' analysis rate) and the recipe's numbers for
    every variant."""
    if kind == "audio":
        return _audio(ok, variants)
    table = []
    findings: list[Finding] = []
    seen: set[str] = set()
    for vi, v in enumerate(variants):
        r = v.resize
        key = r.model_dump_json() if hasattr(r, "model_dump_json") else str(r)
        if not isinstance(r, Resize) or key in seen:
            continue
        seen.add(key)
        geo = [geometry(*_upright(f), r) for f in ok]
        scale = np.array([g["scale"] for g in geo])
        lost = np.array([g["area_lost"] for g in geo])
        dist = np.array([g["distortion"] for g in geo])
        pad = np.array([g["padding"] for g in geo])
        row = {"variant": v.name, "fit": r.fit, "size": r.size, "scale_size": r.scale_size,
               "upscaled_share": float((scale > 1.0).mean()), "median_scale": float(np.median(scale)),
               "max_scale": float(scale.max()), "mean_area_lost": float(lost.mean()),
               "mean_distortion": float(dist.mean()), "mean_padding": float(pad.mean())}
        table.append(row)
        if vi != 0:
            continue
        up = [ref(f, scale=round(g["scale"], 2)) for f, g in zip(ok, geo, strict=True) if g["scale"] > 1.0]
        if up:
            share = len(up) / len(ok)
            findings.append(Finding("upscale", "medium" if share > 0.25 else "low", len(up),
                                    f"{len(up)} of {len(ok)} images ({100 * share:.0f}%) are enlarged by "
                                    f"{v.name}'s resize (median x{np.median([u['scale'] for u in up]):.2f}, up "
                                    f"to x{scale.max():.2f}).", up, row))
        for kind_, arr, limit, what in (("crop", lost, CROP_LOST, "lose more than {p}% of their area to the "
                                         "center crop"),
                                        ("distortion", dist, DISTORTION, "are stretched by more than x{d} along "
                                         "one axis"),
                                        ("padding", pad, PADDING, "are more than {p}% letterbox padding")):
            idx = np.flatnonzero(arr > limit)
            if len(idx):
                text = what.format(p=int(limit * 100), d=limit)
                findings.append(Finding(kind_, "low", len(idx), f"{len(idx)} of {len(ok)} images {text} under "
                                        f"{v.name} (mean {arr.mean():.2f}).",
                                        [ref(ok[i], value=round(float(arr[i]), 3)) for i in idx], row))
    recipe: dict = {"resize": table}
    stats = channel_stats(ok)
    if stats is not None:
        mean, std = stats
        mmean, mstd = [float(x) for x in model.mean], [float(x) for x in model.std]
        recipe["channels"] = {"mean": mean, "std": std, "model_mean": mmean, "model_std": mstd}
        # the network learnt from ImageNet: compare the set with ImageNet, in units of the model's normalization
        gap = max(abs(a - b) / s for a, b, s in zip(mean, IMAGENET_MEAN, mstd, strict=True))
        ratio = max(max(a / b, b / a) for a, b in zip(std, IMAGENET_STD, strict=True) if a > 0)
        recipe["channels"].update(imagenet_mean=list(IMAGENET_MEAN), imagenet_std=list(IMAGENET_STD),
                                  mean_gap=gap, std_ratio=ratio)
        if gap > MEAN_GAP or ratio > STD_RATIO:
            findings.append(Finding(
                "normalization", "info", len(ok),
                f"The set's channel means {_fmt(mean)} and std {_fmt(std)} are far from ImageNet's "
                f"{_fmt(IMAGENET_MEAN)} / {_fmt(IMAGENET_STD)}, the data the model's normalization (mean "
                f"{_fmt(mmean)}, std {_fmt(mstd)}) was made for: mean gap {gap:.2f} model std, std ratio "
                f"x{ratio:.2f}.", [], recipe["channels"]))
    return findings, recipe


def _fmt(xs: list[float]) -> str:
    return "(" + ", ".join(f"{x:.3f}" for x in xs) + ")"


def _audio(ok: list[dict], variants: list[Variant]) -> tuple[list[Finding], dict]:
    rates = sorted({(v.spectrogram.sample_rate if v.spectrogram is not None else 16000) for v in variants})
    first = variants[0].spectrogram.sample_rate if variants[0].spectrogram is not None else 16000
    below = [f for f in ok if f["sample_rate"] < first]
    above = [f for f in ok if f["sample_rate"] > first]
    recipe = {"analysis_rates": rates, "reference_rate": first, "upsampled": len(below), "downsampled": len(above)}
    out = []
    if below or above:
        parts = []
        if below:
            parts.append(f"{len(below)} recorded below it are upsampled (nothing above "
                         f"{min(f['sample_rate'] for f in below) / 2000:g} kHz in them: the top of the spectrogram is "
                         "empty)")
        if above:
            parts.append(f"{len(above)} above it lose their content over {first / 2000:g} kHz")
        out.append(Finding("analysis_rate", "info", len(below) + len(above),
                           f"The reference analyses at {first} Hz: " + "; ".join(parts) + ".",
                           [ref(f, sample_rate=f["sample_rate"]) for f in below + above], recipe))
    return out, recipe


def bn_shift(train: Dataset, readable: list[int], variant: Variant, model, seed: int = 0,  # noqa: ANN001
             should_stop=None, cache_dir=None) -> dict[str, float]:
    """Dataset BN-shift per named layer under ``variant`` over at most ``BN_ITEMS`` readable items (seeded).

    Kept beside the feature cache (a JSON file keyed by the dataset, the items, the variant and the model's weights),
    so a repeated check reads it instead of running the network again."""
    idx = np.asarray(readable)
    if len(idx) > BN_ITEMS:
        idx = np.sort(np.random.default_rng(seed).choice(idx, BN_ITEMS, replace=False))
    cache = FeatureCache(cache_dir)
    key = hashlib.sha256(f"check-bn-shift|{train.digest}|{','.join(map(str, idx.tolist()))}|{cache_key(variant)}|"
                         f"{model.name}|{model_fingerprint(model)}|{__version__}".encode()).hexdigest()[:32]
    path = cache.root / f"{key}.bnshift.json"
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError, AttributeError):
        pass
    twin = model.private_copy()
    shift = dataset_bn_shift(twin, batch_tensors(prepared_batches(train, idx, variant, twin, 16, should_stop)))
    try:
        cache.root.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(shift), encoding="utf-8")
    except OSError:
        pass  # a read-only cache only costs the next check this pass again
    return shift


def bn_finding(shift: dict[str, float], n_items: int) -> Finding | None:
    """A ``bn_shift`` finding when the first layer's dataset BN-shift exceeds ``BN_SHIFT_LIMIT``."""
    if not shift:
        return None
    stem, value = next(iter(shift.items()))
    if value <= BN_SHIFT_LIMIT:
        return None
    worst = max(shift, key=shift.get)
    return Finding("bn_shift", "info", n_items, f"The dataset BN-shift at {stem} is {value:.2f} (largest "
                   f"{shift[worst]:.2f} at {worst}): the network's normalization statistics do not match this set.",
                   [], {"per_layer": shift})
