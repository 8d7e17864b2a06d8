"""Where the network looks under each variant: activation maps, their agreement with the reference's map,
and how faithful they are (``core.explain.cam`` computes maps, ``core.explain.measures`` defines the numbers).

``explain(signal, variants, model, method=..., layer=..., target=...)`` preprocesses the input under every
variant (the engine's pipeline), computes one map per variant for the target class on a private copy of the
model, and scores each variant's map against the reference's (Spearman, top-15% IoU) and by deletion and
insertion AUC. Target class: ``"reference"`` (default: the reference's top-1, so every variant explains the
same class), a class index of the model's head (ImageNet's for the built-in models), or ``"own"`` (each
variant's own top-1).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.explain.cam import METHODS, InvalidCam, cam_maps, check_request
from core.explain.measures import TOP_FRACTION, auc, perturbation_curves, spearman, top_iou
from core.inspect.engine import Lru
from core.preprocess.pipeline import prepare
from core.preprocess.recipe import cache_key, for_network
from core.provenance import Progress

__all__ = ["METHODS", "CamCache", "CamReport", "InvalidCam", "VariantCam", "attach", "check_request", "explain",
           "parse_target"]

Target = str | int


@dataclass
class VariantCam:
    """One variant's map (H, W float32 >= 0 at its network input size) and its numbers."""

    name: str
    class_index: int
    class_label: str
    class_prob: float
    map: np.ndarray = field(repr=False)
    display: np.ndarray = field(repr=False)
    agreement_spearman: float | None
    agreement_iou: float
    deletion_auc: float
    insertion_auc: float
    deletion_curve: list[float]
    insertion_curve: list[float]

    @property
    def peak(self) -> float:
        return float(self.map.max()) if self.map.size else 0.0

    def summary(self, method: str, layer: str) -> dict:
        """The JSON contract ``"cam"`` of a variant, plus the class label, its probability and the curves."""
        return {"method": method, "layer": layer, "class_index": self.class_index,
                "agreement_spearman": self.agreement_spearman, "agreement_iou": self.agreement_iou,
                "deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc,
                "class_label": self.class_label, "class_prob": self.class_prob, "map_peak": self.peak,
                "deletion_curve": self.deletion_curve, "insertion_curve": self.insertion_curve}


@dataclass
class CamReport:
    """Maps and numbers of every variant (the reference first) for one method, layer and target rule."""

    model: str
    method: str
    layer: str
    target: str
    variants: list[VariantCam]
    seconds: float

    @property
    def vmax(self) -> float:
        """Upper end of the one color scale shared by all maps (at least 1e-12 so a scale exists)."""
        return max([v.peak for v in self.variants] + [1e-12])

    def conventions(self) -> str:
        return (f"{METHODS[self.method]} at layer {self.layer} of {self.model}; target class: {self.target}; "
                f"agreement = Spearman rank correlation and IoU of the top {TOP_FRACTION:.0%} area vs the "
                f"reference's map; deletion/insertion AUC = area under the target probability as pixels are "
                f"removed / inserted in the map's order (lower deletion, higher insertion = more faithful)")

    def to_dict(self) -> dict:
        return {"model": self.model, "method": self.method, "layer": self.layer, "target": self.target,
                "conventions": self.conventions(), "seconds": round(self.seconds, 4),
                "variants": [{"name": v.name, **v.summary(self.method, self.layer)} for v in self.variants]}


def parse_target(value: str | int | None) -> Target:
    """``None``/``"reference"`` -> "reference"; ``"own"`` -> "own"; an index (int or digits) -> int."""
    if value is None or value == "reference":
        return "reference"
    if value == "own":
        return "own"
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidCam(f"Target class {value!r}: give 'reference', 'own' or a class index of the model's "
                         "head.") from None


def _target_text(target: Target, model) -> str:
    if target == "reference":
        return "the reference's top-1"
    if target == "own":
        return "each variant's own top-1"
    head = f"{model.head_name}'s class" if model.head_name else "ImageNet class"
    return f"{head} {target} ({model.labels[int(target)]})"


def explain(signal, variants: Sequence, model, *, method: str = "gradcam", layer: str | None = None,
            target: Target = "reference", progress: Progress | None = None) -> CamReport:
    """Maps and numbers for every variant of ``signal`` (see the module docstring)."""
    t0 = time.perf_counter()
    variants = for_network(list(variants), model)  # "resize": "model" -> the model's recipe
    target = parse_target(target)
    layer = check_request(model, method, layer, target if isinstance(target, int) else None)
    report = progress or (lambda f, m: None)
    report(0.05, "Preprocessing")
    prepared = prepare(signal, list(variants), model.mean, model.std)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault(tuple(p.tensor.shape), []).append(i)
    probs: list[np.ndarray] = [np.zeros(0)] * len(prepared)
    for members in groups.values():
        _, logits = model.features_and_logits(torch.stack([prepared[i].tensor for i in members]))
        for i, row in zip(members, logits.float().softmax(dim=1).numpy(), strict=True):
            probs[i] = row
    own = [int(np.argmax(p)) for p in probs]
    if target == "reference":
        classes = [own[0]] * len(prepared)
    elif target == "own":
        classes = own
    else:
        classes = [int(target)] * len(prepared)
    report(0.15, f"{METHODS[method]} at {layer}")
    maps: list[np.ndarray | None] = [None] * len(prepared)
    for members in groups.values():
        batch = torch.stack([prepared[i].tensor for i in members])
        for i, m in zip(members, cam_maps(model, batch, layer, [classes[i] for i in members], method), strict=True):
            maps[i] = m
    ref_map = maps[0]
    out = []
    for i, (p, m) in enumerate(zip(prepared, maps, strict=True)):
        report(0.3 + 0.7 * i / len(prepared), f"Deletion and insertion: {p.variant.name}")
        deletion, insertion = perturbation_curves(model, p.tensor, m, classes[i])
        out.append(VariantCam(
            name=p.variant.name, class_index=classes[i], class_label=model.labels[classes[i]],
            class_prob=float(probs[i][classes[i]]), map=m, display=p.display,
            agreement_spearman=spearman(ref_map, m), agreement_iou=top_iou(ref_map, m),
            deletion_auc=auc(deletion), insertion_auc=auc(insertion),
            deletion_curve=[round(float(v), 6) for v in deletion],
            insertion_curve=[round(float(v), 6) for v in insertion]))
    report(1.0, "Done")
    return CamReport(model.name, method, layer, _target_text(target, model), out, time.perf_counter() - t0)


def attach(result_dict: dict, report: CamReport) -> dict:
    """Add each variant's ``"cam"`` summary to an ``InspectResult.to_dict()`` (matched by position and name)."""
    for entry, v in zip(result_dict["variants"], report.variants, strict=True):
        if entry.get("name") != v.name:
            raise ValueError(f"variant {entry.get('name')!r} does not match the map of {v.name!r}")
        entry["cam"] = v.summary(report.method, report.layer)
    return result_dict


class CamCache:
    """Thread-safe LRU of reports keyed by (input digest, variant set, model, method, layer, target)."""

    def __init__(self, max_entries: int = 8) -> None:
        self._lru = Lru(max_entries)

    @staticmethod
    def key(signal, variants: Sequence, model, method: str, layer: str | None, target: Target) -> tuple:
        return (signal.digest, tuple((v.name, cache_key(v)) for v in variants), model.name, model.description, method,
                layer or model.layer_names[-1], str(parse_target(target)))

    def get(self, key: tuple) -> CamReport | None:
        return self._lru.get(key)

    def put(self, key: tuple, report: CamReport) -> None:
        self._lru.put(key, report)
