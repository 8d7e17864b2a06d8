"""BatchNorm re-estimation (AdaBN) per variant: does re-estimating the normalization statistics undo the shift?

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
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from core import __version__
from core.errors import InvalidDataset, on_surface
from core.evaluate.datasets import Dataset
from core.evaluate.features import FeatureCache, extract, model_fingerprint
from core.evaluate.metrics import score
from core.preprocess.variant import Variant
from core.provenance import StopCheck, Stopped

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


def prepared_batches(dataset: Dataset, indices: Sequence[int], variant: Variant, model, batch_size: int,
                     should_stop: StopCheck | None = None) -> Iterator[list]:
    """The selected items decoded and preprocessed under ``variant``, ``batch_size`` at a time (lists of
    ``core.preprocess.pipeline.Prepared``); Stopped when ``should_stop()`` says so between batches."""
    from core.evaluate.features import _decode_batch
    from core.preprocess.pipeline import prepare_grid

    for start in range(0, len(indices), batch_size):
        if should_stop is not None and should_stop():
            raise Stopped("Stopped; nothing of the stopped pass was kept.")
        items = [dataset.items[int(i)] for i in indices[start : start + batch_size]]
        yield prepare_grid(_decode_batch(dataset, items), [variant], model.mean, model.std)[0]


def _tensors(batches: Iterator[list]) -> Iterator[torch.Tensor]:
    for row in batches:
        yield torch.stack([p.tensor for p in row]).contiguous(memory_format=torch.channels_last)


def dataset_bn_shift(model, batches: Iterator[torch.Tensor]) -> dict[str, float]:
    """Dataset BN-shift per named layer (see the module docstring) of ``model`` (a private copy: hooks are
    registered on it and removed) over every batch, in evaluation mode."""
    from core.inspect.engine import gaussian_shift

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
    from torch.optim.swa_utils import update_bn

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
        parts = (f"{dataset.digest}|{variant.spec_key()}|{self.base.name}|{model_fingerprint(self.base)}|"
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


def add_adapted(ev, variants: Sequence[Variant], model, scored: list, keys: Sequence[str], items: Sequence,
                classes: list[str], *, method: str, seed: int, cache_dir=None, matches: dict | None = None,
                batch_size: int = 8, report: Callable[[float, str], None] | None = None,
                should_stop: StopCheck | None = None) -> None:
    """Re-estimate BatchNorm per variant and fold and set ``scored[i].adapted`` (see ``adapted_entry``).

    ``ev`` is the sweep's ``core.evaluate.folds.Evaluation``: every fold gets its own private copy whose
    statistics come from that fold's training side only, then the same method scores that fold's test items
    on the adapted features; predictions are pooled over folds like the unadapted run's. ``keys`` are the
    unadapted runs' identical-input keys: variants with equal keys share one adaptation. BN-shift before
    and after is measured on the first fold's training side."""
    from core.evaluate.methods import fit_probe, probe_predict_confidence, zeroshot_predict_confidence
    from core.evaluate.sweep import fold_scores, paired

    check_adaptation("bn", method)
    if not any(layer.norm is not None for layer in model.layers):
        raise InvalidDataset(f"{model.name} has no BatchNorm layers (a LayerNorm network): no BatchNorm statistics "
                             "to re-estimate; run without " + on_surface("--adapt bn", "BatchNorm re-estimation") + ".")
    plans = [(f, adaptation_items(ev, f, seed)) for f in ev.folds]
    first_idx = plans[0][1]
    rng = np.random.default_rng(seed)
    shift_idx = np.sort(rng.choice(first_idx, size=min(SHIFT_ITEMS, len(first_idx)), replace=False))
    # the datasets whose adapted features the method reads (zero-shot reads only the tested items' logits)
    sets = [ev.test] if method == "zeroshot" or ev.test is ev.train else [ev.train, ev.test]
    tested = ev.test_idx
    y = ev.test.labels[tested]
    fold_of = ev.fold_of_tested()
    names = [f.name for f in ev.folds]
    report = report or (lambda f, m: None)
    steps = len(variants) * len(plans)
    done: dict[str, dict] = {}
    for i, (v, s) in enumerate(zip(variants, scored, strict=True)):
        if keys[i] in done:  # identical network input: the same adapted network and predictions
            s.adapted = {**done[keys[i]], "same_input_as_earlier_variant": True, "cached": True, "seconds": 0.0}
            report((i + 1) * len(plans) / steps, f"{v.name}: same input as an earlier variant")
            continue
        t0 = time.perf_counter()
        pred = np.empty(len(tested), dtype=np.int64)
        conf = np.empty(len(tested), dtype=np.float32)
        all_cached, shifts, per_fold_items = True, None, []
        for k, (f, idx) in enumerate(plans):
            lo, hi = (i * len(plans) + k) / steps, (i * len(plans) + k + 1) / steps

            def sub(a: float, b: float, lo: float = lo, hi: float = hi) -> tuple[float, float]:
                return lo + a * (hi - lo), lo + b * (hi - lo)

            where = f" (fold {f.name})" if len(plans) > 1 else ""
            cache = _AdaptedCache(cache_dir, model, _adaptation_tag(ev.train, idx))
            meta_file = cache.root / f"{cache.key(ev.train, v, model)}.adabn.json"
            feats = {id(ds): _cached(cache, ds, v, model) for ds in sets}
            meta = _read_json(meta_file)
            hit = (meta is not None and all(x is not None for x in feats.values())
                   and (k > 0 or meta["before"] is not None))
            if not hit:
                before = after = None
                if k == 0:
                    report(sub(0, 0.1)[0], f"{v.name}: BN-shift before re-estimation")
                    before = dataset_bn_shift(model.private_copy(), _tensors(prepared_batches(
                        ev.train, shift_idx, v, model, batch_size, should_stop)))
                report(sub(0.1, 0.2)[0], f"{v.name}{where}: re-estimating BatchNorm statistics on {len(idx)} items")
                twin = adapt_bn(model, _tensors(prepared_batches(ev.train, idx, v, model, ADABN_BATCH, should_stop)))
                if k == 0:
                    report(sub(0.4, 0.5)[0], f"{v.name}: BN-shift after re-estimation")
                    after = dataset_bn_shift(twin, _tensors(prepared_batches(ev.train, shift_idx, v, model,
                                                                             batch_size, should_stop)))
                for j, ds in enumerate(sets):
                    a, b = 0.5 + 0.5 * j / len(sets), 0.5 + 0.5 * (j + 1) / len(sets)
                    feats[id(ds)] = extract(ds, [v], twin, cache, batch_size=batch_size, should_stop=should_stop,
                                            progress=report, progress_span=sub(a, b))[v.spec_key()]
                del twin
                meta = {"before": before, "after": after, "n_adapt": int(len(idx)),
                        "n_shift": int(len(shift_idx)) if k == 0 else 0}
                meta_file.parent.mkdir(parents=True, exist_ok=True)
                meta_file.write_text(json.dumps(meta), encoding="utf-8")
            all_cached = all_cached and hit
            if k == 0:
                shifts = meta
            per_fold_items.append(int(len(idx)))
            te = feats[id(ev.test)]
            if method == "zeroshot":
                p, c = zeroshot_predict_confidence(te.logits[f.test_idx], ev.test.classes, matches or {})
            else:
                tr = feats[id(ev.train)]
                clf = fit_probe(tr.pooled[f.train_idx], ev.train.labels[f.train_idx], seed)
                p, c = probe_predict_confidence(clf, te.pooled[f.test_idx])
            at = np.searchsorted(tested, f.test_idx)
            pred[at], conf[at] = p, c
            report(hi, f"{v.name}{where}: adapted")
        sc = score(y, pred, classes)
        folds = fold_scores(pred == y, fold_of, names)
        for fo, n in zip(folds, per_fold_items, strict=True):
            fo["n_adaptation_items"] = n
        p, b, c, fold_p = paired(s.predicted == y, pred == y, s.folds, folds)
        s.adapted = {
            "accuracy": sc.accuracy, "ci95": [sc.ci95[0], sc.ci95[1]], "mcnemar_p_vs_unadapted": p,
            "discordant_vs_unadapted": {"unadapted_only": b, "adapted_only": c},
            "fold_test_p_vs_unadapted": fold_p,
            "macro_accuracy": sc.macro_accuracy, "n_correct": sc.n_correct, "n_test": sc.n_test,
            "per_class": sc.per_class, "folds": folds,
            "bn_shift_before": shifts["before"], "bn_shift_after": shifts["after"], "bn_shift_fold": names[0],
            "n_adaptation_items": per_fold_items[0], "n_shift_items": shifts["n_shift"],
            "same_input_as_earlier_variant": False, "cached": all_cached, "seconds": time.perf_counter() - t0,
            "items": [{"name": it.name, "label": classes[it.label], "predicted": classes[int(q)],
                       "confidence": float(r)} for it, q, r in zip(items, pred, conf, strict=True)],
        }
        done[keys[i]] = s.adapted


def _cached(cache: _AdaptedCache, ds: Dataset, v: Variant, model):
    from core.evaluate.features import Features

    hit = cache.load(cache.key(ds, v, model), len(ds))
    return None if hit is None else Features(hit[0], hit[1], True, 0.0)


def _read_json(path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"before", "after", "n_adapt", "n_shift"} <= set(data) else None


def adapted_table(result) -> str | None:
    """The CLI's second table: per variant (identical inputs as one row), accuracy without and with
    re-estimation, McNemar p between them (and the fold test p under cross-validation), and the stem / head
    dataset BN-shift before -> after; None when the sweep adapted nothing."""
    from core.cliutil import format_table
    from core.evaluate.sameinput import display_rows

    cv = result.cross_validated
    rows = []
    names = [v.name for v in result.variants]
    for label, i, members in display_rows(names, [g["variants"] for g in result.identical]):
        v = result.variants[i]
        a = v.adapted
        if not a:
            continue
        layers = list(a["bn_shift_before"] or {})
        shift = "  ".join(f"{n} {a['bn_shift_before'][n]:.3g}->{a['bn_shift_after'][n]:.3g}"
                          for n in (layers[0], layers[-1])) if layers else "-"
        fold_p = a.get("fold_test_p_vs_unadapted")
        rows.append([label + (" (ref)" if 0 in members else ""), f"{v.accuracy:.3f}", f"{a['accuracy']:.3f}",
                     f"[{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]", f"{a['mcnemar_p_vs_unadapted']:.3g}"]
                    + (["—" if fold_p is None else f"{fold_p:.3g}"] if cv else []) + [shift])
    if not rows:
        return None
    return format_table(rows, ["variant", "unadapted", "BN re-est.", "95% CI", "McNemar p (vs unadapted)"]
                        + (["fold test p"] if cv else []) + ["dataset BN-shift before->after"])
