"""The inspection engine: one input, a variant set, one batched forward, everything worth showing.

For each variant: top-5 ImageNet predictions, per named layer (stem, every stage, head) the feature
map (average-pooled to at most 56x56, float16), activation statistics, similarity to the reference
variant (cosine of pooled features and linear CKA over spatial positions) and ``bn_shift``.

Statistics of a layer's output y for one variant (all over channels and positions):
``mean``, ``std``, ``min``, ``max``; ``zero_fraction`` = share of values exactly 0;
``saturated_fraction`` = share at the clipping ceiling of the layer's activation (ReLU6: 6; 0 for
layers without a ceiling); ``dead_channel_fraction`` = share of channels with no positive value
(all zero after a ReLU); ``l2_norm`` = Euclidean norm of the whole map.

``bn_shift`` measures how far a preprocessing pushes a layer from the distribution the network was
trained on. For the layer's last BatchNorm, each channel's input is summarized by its spatial mean
mu and variance s2 for this image, and compared with the BatchNorm's running mean m and variance v
(the training statistics) by the symmetric Kullback-Leibler divergence of two Gaussians,
``0.5 * ((s2 + (mu - m)^2) / v + (v + (mu - m)^2) / s2) - 1`` (BatchNorm's eps added to both
variances), averaged over channels. 0 means "looks like training data on average"; one image's
spatial statistics never match dataset statistics exactly, so compare variants with the reference
rather than reading the absolute value.

Concurrency: a ``LoadedModel`` is shared. A forward holds the model's lock; BatchNorm inputs are
read through ``core.models.bn_inputs``, whose forward pre-hooks are registered inside that lock and
removed on exit, so no hook survives a request and no weight or module is changed.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.inspect.measures import STATS
from core.models.registry import LoadedModel, bn_inputs
from core.preprocess.pipeline import Prepared, prepare
from core.preprocess.recipe import cache_key, for_network
from core.preprocess.variant import Variant
from core.provenance import Progress, versions
from core.signal import Signal

MAP_SIDE = 56


@dataclass
class Prediction:
    label: str
    index: int
    prob: float


@dataclass
class LayerResult:
    name: str
    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float
    saturated_fraction: float
    dead_channel_fraction: float
    l2_norm: float
    similarity: float
    cka: float | None
    bn_shift: float | None
    fmap: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", *STATS, "similarity", "cka", "bn_shift")}
        return d


@dataclass
class VariantResult:
    variant: Variant
    display: np.ndarray
    top5: list[Prediction]
    layers: list[LayerResult]
    pooled: np.ndarray

    @property
    def name(self) -> str:
        return self.variant.name

    def to_dict(self) -> dict:
        return {
            "name": self.variant.name,
            "spec": self.variant.to_dict(),
            "top5": [p.__dict__ for p in self.top5],
            "layers": [layer.to_dict() for layer in self.layers],
        }


@dataclass
class InspectResult:
    model: str
    model_description: str
    provenance: dict
    layer_names: list[str]
    variants: list[VariantResult]
    seconds: float

    @property
    def reference(self) -> VariantResult:
        return self.variants[0]

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "model_description": self.model_description,
            "input": self.provenance,
            "versions": versions(),
            "seconds": round(self.seconds, 4),
            "variants": [v.to_dict() for v in self.variants],
        }


@dataclass
class _Run:
    """Everything about one variant that does not depend on the other variants (cacheable)."""

    display: np.ndarray
    probs: np.ndarray
    stats: list[dict]
    pooled_per_layer: list[np.ndarray]
    fmaps: list[np.ndarray]
    bn_shift: list[float | None]
    pooled: np.ndarray
    map_sizes: list[tuple[int, int]]  # spatial size of each layer before pooling to MAP_SIDE


class RunCache:
    """Thread-safe LRU of per-variant runs keyed by (input digest, variant spec, model), plus a small LRU
    of assembled results keyed by the whole request (``result_key``).

    The run key ignores the variant's name: renaming does not recompute, and editing one variant of a
    set recomputes only that one. A repeated request (a page rerun) gets the assembled result back
    without even the comparison step. Results are shared: callers must not modify them.
    """

    def __init__(self, max_entries: int = 64, max_results: int = 8) -> None:
        self._runs = Lru(max_entries)
        self._results = Lru(max_results)

    def get(self, key: tuple) -> _Run | None:
        return self._runs.get(key)

    def put(self, key: tuple, run: _Run) -> None:
        self._runs.put(key, run)

    def get_result(self, key: tuple) -> InspectResult | None:
        return self._results.get(key)

    def put_result(self, key: tuple, result: InspectResult) -> None:
        self._results.put(key, result)

    @property
    def hits(self) -> int:
        return self._runs.hits

    @property
    def misses(self) -> int:
        return self._runs.misses

    def __len__(self) -> int:
        return len(self._runs)


class Lru:
    """A small thread-safe LRU of computed results (shared by the engine's RunCache and other result caches)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def result_key(signal: Signal, variants: Sequence[Variant], model: LoadedModel) -> tuple:
    """The whole request: input digest, every variant (names included; saved models by their digests), model."""
    return (signal.digest, tuple((v.name, cache_key(v)) for v in variants), model.name, model.description)


def _layer_stats(y: torch.Tensor, pooled: torch.Tensor, saturation: float | None) -> list[dict]:
    """Per-sample statistics of a (V,C,h,w) activation, reusing its spatial means ``pooled`` (V,C).

    Written for speed on the CPU: reductions run over the tensor's own memory layout (no copies
    of channels-last maps), and counts are means of ``sign`` (exact for 0/1 values) because
    boolean reductions are several times slower than float ones.
    """
    v, c = y.shape[:2]
    dims = (1, 2, 3)
    mean = pooled.mean(1)
    per_channel_max = y.amax(dim=(2, 3))
    if saturation is not None:
        sat = (y - (saturation - 1e-6)).clamp_(min=0).sign_().mean(dim=dims)
    else:
        sat = torch.zeros(v)
    cols = {
        "mean": mean,
        "std": torch.linalg.vector_norm(y - mean[:, None, None, None], dim=dims) / math.sqrt(y[0].numel()),
        "min": y.amin(dim=dims),
        "max": per_channel_max.amax(1),
        "zero_fraction": 1.0 - y.sign().abs_().mean(dim=dims),
        "saturated_fraction": sat,
        "dead_channel_fraction": (per_channel_max <= 0).sum(dim=1) / c,
        "l2_norm": torch.linalg.vector_norm(y, dim=dims),
    }
    rows = torch.stack([cols[k].double().cpu() for k in STATS], dim=1).tolist()
    return [dict(zip(STATS, row, strict=True)) for row in rows]


def _bn_shift(x: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    """Symmetric Gaussian KL of per-channel input statistics vs running statistics, per sample.

    The spatial moments E[x] and E[x^2] come from two float reductions (much faster on the CPU
    than ``var_mean``); the variance is formed from them in float64.
    """
    mu = x.mean(dim=(2, 3)).double()
    s2 = (x.square().mean(dim=(2, 3)).double() - mu.square()).clamp_min(0)
    return gaussian_shift(mu, s2, bn).float()


def gaussian_shift(mu: torch.Tensor, s2: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    """The BN-shift formula on per-channel input moments ``mu``, ``s2`` (..., C) against ``bn``'s running
    statistics: symmetric Gaussian KL with BatchNorm's eps added to both variances, averaged over channels
    (float64). Used per image here and over a whole dataset by ``core.evaluate.methods.adabn``."""
    s2 = s2.double() + bn.eps
    v = bn.running_var.double().to(s2.device) + bn.eps
    d2 = (mu.double() - bn.running_mean.double().to(s2.device)).square()
    kl = 0.5 * ((s2 + d2) / v + (v + d2) / s2) - 1.0
    return kl.mean(dim=-1)


def _pool_map(y: torch.Tensor) -> torch.Tensor:
    k = max(1, -(-max(y.shape[-2:]) // MAP_SIDE))
    return F.avg_pool2d(y, k, ceil_mode=True) if k > 1 else y


def _forward(model: LoadedModel, batch: torch.Tensor) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
    """Run a batch; collect per named layer: stats, pooled channels, small maps and BN shift."""
    with bn_inputs(model) as norm_in:
        maps, pooled, logits = model.forward_layers(batch)
    per_layer: list[dict] = []
    with torch.inference_mode():
        for layer, y in zip(model.layers, maps, strict=True):
            x_norm = norm_in.get(layer.name)
            means = y.mean(dim=(2, 3))
            per_layer.append({
                "stats": _layer_stats(y, means, layer.saturation),
                "pooled": means.cpu(),
                "fmap": _pool_map(y).to(torch.float16).cpu(),
                "size": tuple(y.shape[-2:]),
                "bn_shift": None if x_norm is None or layer.norm is None else _bn_shift(x_norm, layer.norm).cpu(),
            })
    return per_layer, pooled, logits


#: Variants per forward at 224x224; larger inputs get proportionally fewer (bounded activation memory).
CHUNK_AT_224 = 8


def _compute_runs(model: LoadedModel, prepared: Sequence[Prepared]) -> list[_Run]:
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(prepared):
        groups.setdefault(tuple(p.tensor.shape), []).append(i)
    runs: list[_Run | None] = [None] * len(prepared)
    for shape, members in groups.items():
        chunk = max(1, int(CHUNK_AT_224 * (224 * 224) / (shape[-2] * shape[-1])))
        for c0 in range(0, len(members), chunk):
            idx = members[c0 : c0 + chunk]
            batch = torch.stack([prepared[i].tensor for i in idx]).contiguous(memory_format=torch.channels_last)
            per_layer, pooled, logits = _forward(model, batch)
            probs = logits.float().softmax(dim=1).cpu().numpy()
            pooled = pooled.cpu()
            for j, i in enumerate(idx):
                runs[i] = _Run(
                    display=prepared[i].display,
                    probs=probs[j],
                    stats=[layer["stats"][j] for layer in per_layer],
                    pooled_per_layer=[layer["pooled"][j].numpy().copy() for layer in per_layer],
                    fmaps=[layer["fmap"][j].numpy().copy() for layer in per_layer],
                    bn_shift=[None if layer["bn_shift"] is None else float(layer["bn_shift"][j])
                              for layer in per_layer],
                    pooled=pooled[j].numpy().copy(),
                    map_sizes=[layer["size"] for layer in per_layer],
                )
    return runs  # type: ignore[return-value]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.clip(a64 @ b64 / (na * nb), -1.0, 1.0))


def _centered(fmaps: np.ndarray) -> torch.Tensor:
    """(..., C, h, w) maps -> (..., positions, channels) float32 with centered columns."""
    t = torch.from_numpy(np.ascontiguousarray(fmaps)).float()
    m = t.flatten(-2).transpose(-1, -2)
    return m - m.mean(dim=-2, keepdim=True)


def _cka_batch(X: torch.Tensor, Ys: torch.Tensor) -> list[float | None]:
    """Linear CKA of one centered (P,C) matrix against a batch (V,P,C), in the cheaper form.

    None where CKA is undefined: fewer than two positions, or a map constant over positions
    (its centered matrix is zero)."""
    if X.shape[0] < 2:
        return [None] * Ys.shape[0]
    if X.shape[0] < X.shape[1]:  # fewer positions than channels: Gram matrices <Kx, Ky>
        kx, ky = X @ X.T, Ys @ Ys.transpose(1, 2)
        num = (kx[None] * ky).sum(dim=(1, 2))
    else:
        kx, ky = X.T @ X, Ys.transpose(1, 2) @ Ys
        num = torch.linalg.matrix_norm(X.T[None] @ Ys).square()
    den = torch.linalg.matrix_norm(kx) * torch.linalg.matrix_norm(ky)
    return [None if float(d) == 0 else min(1.0, float(n / d)) for n, d in zip(num, den, strict=True)]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float | None:
    """Linear CKA between two (C,h,w) maps, positions as examples and channels as features.

    ``CKA = ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centered (positions x
    channels) matrices (Kornblith et al., 2019), computed in the Gram form ``<Kx, Ky>`` when there
    are fewer positions than channels. None when the spatial sizes differ.
    """
    if x.shape[1:] != y.shape[1:]:
        return None
    return _cka_batch(_centered(x), _centered(y[None]))[0]


def _cka_per_layer(runs: Sequence[_Run], n_layers: int) -> list[list[float | None]]:
    """CKA of every run against runs[0], per layer; one batched computation per layer."""
    out: list[list[float | None]] = [[None] * n_layers for _ in runs]
    ref = runs[0]
    for li in range(n_layers):
        # same network input size, not just the same pooled map size (maps are pooled to MAP_SIDE)
        same = [i for i, r in enumerate(runs) if r.map_sizes[li] == ref.map_sizes[li]]
        values = _cka_batch(_centered(ref.fmaps[li]), _centered(np.stack([runs[i].fmaps[li] for i in same])))
        for i, val in zip(same, values, strict=True):
            out[i][li] = val
    return out


def inspect(
    signal: Signal,
    variants: Sequence[Variant],
    model: LoadedModel,
    *,
    cache: RunCache | None = None,
    progress: Progress | None = None,
) -> InspectResult:
    """Preprocess ``signal`` under every variant, run one batched forward, and compare with variants[0].

    Variants are first resolved against the model (``"resize": "model"`` becomes the model's recipe),
    so the result, its cache keys and its exports carry what was actually computed."""
    t0 = time.perf_counter()
    if not variants:
        raise ValueError("inspect needs at least one variant")
    variants = for_network(variants, model)
    if cache is not None and (hit := cache.get_result(result_key(signal, variants, model))) is not None:
        return hit
    report = progress or (lambda f, m: None)
    keys = [(signal.digest, cache_key(v), model.name, model.description) for v in variants]
    runs: list[_Run | None] = [cache.get(k) if cache is not None else None for k in keys]
    todo = [i for i, r in enumerate(runs) if r is None]
    if todo:
        report(0.05, f"Preprocessing {len(todo)} variant(s)")
        prepared = prepare(signal, [variants[i] for i in todo], model.mean, model.std)
        report(0.4, f"Forward pass of {len(todo)} variant(s) through {model.name}")
        for i, run in zip(todo, _compute_runs(model, prepared), strict=True):
            runs[i] = run
            if cache is not None:
                cache.put(keys[i], run)
    report(0.9, "Comparing with the reference")
    ref = runs[0]
    ckas = _cka_per_layer(runs, len(model.layer_names))
    results = []
    for v, run, cka in zip(variants, runs, ckas, strict=True):
        top = np.argsort(-run.probs)[:5]
        layers = []
        for li, name in enumerate(model.layer_names):
            layers.append(LayerResult(
                name=name,
                **run.stats[li],
                similarity=cosine(run.pooled_per_layer[li], ref.pooled_per_layer[li]),
                cka=cka[li],
                bn_shift=run.bn_shift[li],
                fmap=run.fmaps[li],
            ))
        results.append(VariantResult(
            variant=v,
            display=run.display,
            top5=[Prediction(model.labels[int(i)], int(i), float(run.probs[i])) for i in top],
            layers=layers,
            pooled=run.pooled,
        ))
    report(1.0, "Done")
    provenance = dict(signal.provenance)
    provenance.setdefault("digest", signal.digest)
    result = InspectResult(model.name, model.description, provenance, model.layer_names, results,
                           time.perf_counter() - t0)
    if cache is not None:
        cache.put_result(result_key(signal, variants, model), result)
    return result
