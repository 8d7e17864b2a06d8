"""``--adapt bn``, a method wrapper: BatchNorm re-estimation (AdaBN) per variant.

Does re-estimating the normalization statistics undo the shift?

For each variant and each fold of the sweep's evaluation (``core.evaluate.folds``: one held-out split, a
given test set, or cross-validation), a private copy of the model (``LoadedModel.private_copy``; the shared
model's buffers are never touched) has every BatchNorm's running mean and variance re-estimated on that
fold's training side, preprocessed under that variant: ``torch.optim.swa_utils.update_bn`` resets the
statistics, puts the network in training mode with a cumulative average (momentum None) and runs every
adaptation item once (``ADABN_BATCH`` items per forward, no gradients). The same method as the unadapted
run (probe or zero-shot) then scores that fold's test items on the adapted network's features; the
predictions are pooled over folds exactly like the unadapted run's, so each tested item has an adapted
prediction and confidence, and the adapted run is compared with the unadapted one by McNemar's exact test
on the pooled items (and, under cross-validation, by the paired test across folds).

Why per fold: the statistics are estimated from the training side only, as the issue asks, so a test item
never influences the network that scores it, and ``--cv none`` is exactly one such re-estimation (the
held-out split). Cost is bounded: at most ``MAX_ADAPT_ITEMS`` items per re-estimation (a seeded subset),
variants with identical network inputs share one adaptation, BN-shift is measured on the first fold only,
and every fold's adapted features are cached. Still, K folds cost K re-estimations and K feature
extractions of the dataset per distinct variant (unadapted sweeps reuse one extraction for all folds).

Per named layer, the *dataset BN-shift* is reported before and after: the engine's BN-shift formula
(symmetric Gaussian KL, ``core.inspect.engine.gaussian_shift``) applied to each channel's mean and
variance of the layer's last BatchNorm input over all positions of (at most ``SHIFT_ITEMS``, a seeded
subset of) the first fold's adaptation items, in evaluation mode. 0 means the layer sees inputs
distributed exactly as its running statistics say; after re-estimation the first BatchNorm is at 0 up to
float error, and later ones near 0 (``update_bn`` normalizes with batch statistics while it estimates, so
deeper layers' inputs differ slightly from evaluation mode).

Caching: the adapted features go to the feature cache under a key that adds the adaptation (method
version, the training items it used, the batch size) to the usual dataset / variant / model-weights
key, with the fold's metadata (and, for the first fold, the BN-shift numbers) beside them; a repeat reads
files and adapts nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.optim.swa_utils import update_bn

from core import __version__
from core.errors import InvalidDataset, on_surface
from core.evaluate.datasets import Dataset
from core.evaluate.features import FeatureCache, Features, extract, model_fingerprint, prepared_batches
from core.evaluate.folds import Evaluation, Fold
from core.evaluate.methods.base import Context, Report, pool_over_folds
from core.evaluate.methods.frozen import FrozenMethod, datasets_of
from core.evaluate.scoring import Comparison, Predictions, Scoring
from core.inspect.engine import gaussian_shift
from core.preprocess.recipe import cache_key
from core.preprocess.variant import Variant

ADAPTATIONS = ("bn",)
ADABN_BATCH = 32
SHIFT_ITEMS = 512
#: At most this many training items re-estimate a fold's statistics (a seeded subset beyond).
MAX_ADAPT_ITEMS = 1000
_VERSION = "adabn-1"


def adaptation_description() -> str:
    return (f"AdaBN: every BatchNorm's running mean/variance re-estimated on each fold's training side (at most "
            f"{MAX_ADAPT_ITEMS} items, seeded) under the variant (torch.optim.swa_utils.update_bn, cumulative "
            f"average, batches of {ADABN_BATCH}) on a private copy of the model; the same method then scores that "
            f"fold's test items; BN-shift over at most {SHIFT_ITEMS} training items of the first fold")


def batch_tensors(batches: Iterator[list]) -> Iterator[torch.Tensor]:
    """Each row of prepared items as one channels-last tensor batch."""
    for row in batches:
        yield torch.stack([p.tensor for p in row]).contiguous(memory_format=torch.channels_last)


def dataset_bn_shift(model, batches: Iterator[torch.Tensor]) -> dict[str, float]:
    """Dataset BN-shift per named layer (see the module docstring) of ``model`` (a private copy: hooks are
    registered on it and removed) over every batch, in evaluation mode."""
    sums: dict[str, list] = {}
    handles = []
    for layer in model.layers:
        if layer.norm is None:
            continue
        acc = sums.setdefault(layer.name, [0.0, 0.0, 0])

        def hook(mod, args, acc=acc) -> None:
            x = args[0].detach().double()
            acc[0] = acc[0] + x.sum(dim=(0, 2, 3))
            acc[1] = acc[1] + x.square().sum(dim=(0, 2, 3))
            acc[2] += x.shape[0] * x.shape[2] * x.shape[3]

        handles.append(layer.norm.register_forward_pre_hook(hook))
    try:
        for x in batches:
            model.features_and_logits(x)
    finally:
        for h in handles:
            h.remove()
    out = {}
    for layer in model.layers:
        if layer.name in sums and sums[layer.name][2]:
            s, sq, n = sums[layer.name]
            mu = s / n
            out[layer.name] = float(gaussian_shift(mu, (sq / n - mu.square()).clamp_min(0), layer.norm))
    return out


def adapt_bn(model, batches: Iterator[torch.Tensor]):
    """A private copy of ``model`` whose BatchNorm running statistics are re-estimated on ``batches``."""
    twin = model.private_copy()
    with torch.no_grad():
        update_bn((x.to(twin.device) for x in batches), twin.module)
    twin.module.eval()
    return twin


class _AdaptedCache(FeatureCache):
    """The feature cache, keyed by the base model's weights plus the adaptation (not the adapted copy's weights,
    which are only known after adapting)."""

    def __init__(self, root, base_model, adaptation: str) -> None:
        super().__init__(root)
        self.base, self.adaptation = base_model, adaptation

    def key(self, dataset: Dataset, variant: Variant, model) -> str:
        parts = (f"{dataset.digest}|{cache_key(variant)}|{self.base.name}|{model_fingerprint(self.base)}|"
                 f"{__version__}|{self.adaptation}")
        return hashlib.sha256(parts.encode()).hexdigest()[:32]


def _adaptation_tag(train: Dataset, idx: np.ndarray) -> str:
    digest = hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]
    return f"{_VERSION}|train {train.digest}|items {digest}|batch {ADABN_BATCH}|shift {SHIFT_ITEMS}"


def check_adaptation(adapt: str, method: str) -> None:
    """Refuse an unknown adaptation or a method it does not go with (InvalidDataset with a sentence)."""
    if adapt not in ADAPTATIONS:
        raise InvalidDataset(f"Unknown adaptation {adapt!r}; the one available is 'bn' (BatchNorm re-estimation).")
    if method not in ("probe", "zeroshot"):
        raise InvalidDataset(f"BatchNorm re-estimation goes with {on_surface('--method', 'the Method')} probe or "
                             f"zeroshot, not {method} "
                             "(finetune trains the BatchNorm layers itself; the adapter has its own input layer).")


def adaptation_items(ev, fold, seed: int = 0) -> np.ndarray:
    """Training items a fold's statistics are re-estimated on: the fold's training side, or the whole given
    training set for zero-shot with a separate test set; at most ``MAX_ADAPT_ITEMS`` (a seeded subset, in
    dataset order). Refused when there is no training side (zero-shot without a test set)."""
    if len(fold.train_idx):
        idx = np.asarray(fold.train_idx)
    elif ev.test is not ev.train:
        idx = np.arange(len(ev.train))
    else:
        raise InvalidDataset("BatchNorm re-estimation needs training items; zero-shot without "
                             + on_surface("--test", "a test set") + " scores every item and has none. Give a "
                             "separate test set or use " + on_surface("--method probe", "the probe method") + ".")
    if len(idx) > MAX_ADAPT_ITEMS:
        idx = np.sort(np.random.default_rng([seed, 1]).choice(idx, size=MAX_ADAPT_ITEMS, replace=False))
    return idx


class _AdaptedRun:
    """One distinct input under re-estimation: per fold a private copy re-estimated on the fold's training side,
    then the wrapped method's head on the adapted features (read from the cache when present)."""

    def __init__(self, wrapper: BatchNormAdaptation, ctx: Context, variant: Variant, key: str, head,
                 plans: list[np.ndarray], shift_idx: np.ndarray) -> None:
        self.w, self.ctx, self.v, self.key, self.head = wrapper, ctx, variant, key, head
        self.plans, self.shift_idx = plans, shift_idx
        self.all_cached, self.shifts = True, None

    def fold(self, k: int, fold: Fold, report: Report) -> tuple[np.ndarray, np.ndarray, dict]:
        ctx, v, model, ev = self.ctx, self.v, self.ctx.model, self.ctx.ev
        idx, batch, stop = self.plans[k], ctx.batch_size, ctx.should_stop
        where = f" (fold {fold.name})" if len(self.plans) > 1 else ""
        cache = _AdaptedCache(ctx.cache.root, model, _adaptation_tag(ev.train, idx))
        meta_file = cache.root / f"{cache.key(ev.train, v, model)}.adabn.json"
        sets = self.w.sets(ev)
        feats = {id(ds): _cached(cache, ds, v, model) for ds in sets}
        meta = _read_json(meta_file)
        hit = meta is not None and all(x is not None for x in feats.values()) and (k > 0 or meta["before"] is not None)
        if not hit:
            before = after = None
            if k == 0:
                report(0.0, f"{v.name}: BN-shift before re-estimation")
                before = dataset_bn_shift(model.private_copy(), batch_tensors(prepared_batches(
                    ev.train, self.shift_idx, v, model, batch, stop)))
            report(0.1, f"{v.name}{where}: re-estimating BatchNorm statistics on {len(idx)} items")
            twin = adapt_bn(model, batch_tensors(prepared_batches(ev.train, idx, v, model, ADABN_BATCH, stop)))
            if k == 0:
                report(0.4, f"{v.name}: BN-shift after re-estimation")
                after = dataset_bn_shift(twin, batch_tensors(prepared_batches(ev.train, self.shift_idx, v, model, batch,
                                                                         stop)))
            for j, ds in enumerate(sets):
                a, b = 0.5 + 0.5 * j / len(sets), 0.5 + 0.5 * (j + 1) / len(sets)
                feats[id(ds)] = extract(ds, [v], twin, cache, batch_size=batch, should_stop=stop, progress=report,
                                        progress_span=(a, b))[v.spec_key()]
            del twin
            meta = {"before": before, "after": after, "n_adapt": int(len(idx)),
                    "n_shift": int(len(self.shift_idx)) if k == 0 else 0}
            meta_file.parent.mkdir(parents=True, exist_ok=True)
            meta_file.write_text(json.dumps(meta), encoding="utf-8")
        self.all_cached = self.all_cached and hit
        if k == 0:
            self.shifts = meta
        te = feats[id(ev.test)]
        p, c = self.head(feats.get(id(ev.train), te), te, fold)
        report(1.0, f"{v.name}{where}: adapted")
        return p, c, {"n_adaptation_items": int(len(idx))}

    def finish(self, predicted: np.ndarray, confidence: np.ndarray, infos: list[dict], seconds: float
               ) -> Predictions:
        return Predictions(predicted, confidence, seconds, self.all_cached, self.key,
                           {"shifts": self.shifts, "n_adaptation_items": [d["n_adaptation_items"] for d in infos],
                            "same_input_as_earlier_variant": False})


class BatchNormAdaptation:
    """Wraps a frozen-feature method (probe, zeroshot): the same head, scored on the features of a private copy
    whose BatchNorm statistics are re-estimated on each fold's training side under each variant."""

    name = "bn"

    def __init__(self, inner: FrozenMethod) -> None:
        check_adaptation("bn", inner.name)
        self.inner = inner

    def describe(self) -> str:
        return adaptation_description()

    def sets(self, ev: Evaluation) -> list[Dataset]:
        """The datasets whose adapted features the head reads (zero-shot reads only the tested items' logits)."""
        return [ev.test] if self.inner.name == "zeroshot" else [ds for ds, _ in datasets_of(ev)]

    def predict(self, ctx: Context, variants: Sequence[Variant], keys: Sequence[str]) -> list[Predictions]:
        """Adapted predictions per variant, pooled over folds; ``keys`` are the unadapted runs' identical-input keys
        (variants with equal keys share one adaptation). BN-shift before and after is measured on the first fold's
        training side; ``details`` carries it (``shifts``) and each fold's number of adaptation items."""
        if not any(layer.norm is not None for layer in ctx.model.layers):
            raise InvalidDataset(f"{ctx.model.name} has no BatchNorm layers (a LayerNorm network): no BatchNorm "
                                 "statistics to re-estimate; run without "
                                 + on_surface("--adapt bn", "BatchNorm re-estimation") + ".")
        ev = ctx.ev
        plans = [adaptation_items(ev, f, ctx.seed) for f in ev.folds]
        rng = np.random.default_rng(ctx.seed)
        shift_idx = np.sort(rng.choice(plans[0], size=min(SHIFT_ITEMS, len(plans[0])), replace=False))
        head = self.inner.head(ctx)

        def repeat(i: int, v: Variant, first: Predictions) -> Predictions:
            return Predictions(first.predicted, first.confidence, 0.0, True, first.key,
                               {**first.details, "same_input_as_earlier_variant": True})

        return pool_over_folds(ev, variants, keys,
                               lambda i, v, report: _AdaptedRun(self, ctx, v, keys[i], head, plans, shift_idx),
                               repeat, ctx.report)


def adapted_entry(adapted: Predictions, scoring: Scoring, vs_unadapted: Comparison, fold_names: Sequence[str],
                  items: Sequence, classes: Sequence[str]) -> dict:
    """A variant's ``"adapted"`` JSON entry: the adapted run's scores, its comparison with the unadapted run on the
    same items, the BN-shift numbers and the per-item predictions."""
    d, sc = adapted.details, scoring.scores
    folds = [{**f, "n_adaptation_items": n} for f, n in zip(scoring.folds, d["n_adaptation_items"], strict=True)]
    return {
        "accuracy": sc.accuracy, "ci95": [sc.ci95[0], sc.ci95[1]], "mcnemar_p_vs_unadapted": vs_unadapted.p,
        "discordant_vs_unadapted": {"unadapted_only": vs_unadapted.a_only, "adapted_only": vs_unadapted.b_only},
        "fold_test_p_vs_unadapted": vs_unadapted.fold_p,
        "macro_accuracy": sc.macro_accuracy, "n_correct": sc.n_correct, "n_test": sc.n_test,
        "per_class": sc.per_class, "folds": folds,
        "bn_shift_before": d["shifts"]["before"], "bn_shift_after": d["shifts"]["after"],
        "bn_shift_fold": fold_names[0],
        "n_adaptation_items": d["n_adaptation_items"][0], "n_shift_items": d["shifts"]["n_shift"],
        "same_input_as_earlier_variant": d["same_input_as_earlier_variant"], "cached": adapted.cached,
        "seconds": adapted.seconds,
        "items": [{"name": it.name, "label": classes[it.label], "predicted": classes[int(q)], "confidence": float(r)}
                  for it, q, r in zip(items, adapted.predicted, adapted.confidence, strict=True)],
    }


def _cached(cache: _AdaptedCache, ds: Dataset, v: Variant, model):
    hit = cache.load(cache.key(ds, v, model), len(ds))
    return None if hit is None else Features(hit[0], hit[1], True, 0.0)


def _read_json(path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"before", "after", "n_adapt", "n_shift"} <= set(data) else None
