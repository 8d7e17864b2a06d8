"""BatchNorm re-estimation (AdaBN) per variant: does re-estimating the normalization statistics undo the shift?

For each variant, a private copy of the model (``LoadedModel.private_copy``; the shared model's buffers are
never touched) has every BatchNorm's running mean and variance re-estimated on the training side of the
split, preprocessed under that variant: ``torch.optim.swa_utils.update_bn`` resets the statistics, puts
the network in training mode with a cumulative average (momentum None) and runs every training item once
(``ADABN_BATCH`` items per forward, no gradients). The same method as the unadapted run (probe or
zero-shot) is then scored on the adapted network's features of the same test items, and compared with the
unadapted run of that variant by McNemar's exact test.

Per named layer, the *dataset BN-shift* is reported before and after: the engine's BN-shift formula
(symmetric Gaussian KL, ``core.inspect.engine.gaussian_shift``) applied to each channel's mean and
variance of the layer's last BatchNorm input over all positions of (at most ``SHIFT_ITEMS``, a seeded
subset of) the training items, in evaluation mode. 0 means the layer sees inputs distributed exactly as
its running statistics say; after re-estimation the first BatchNorm is at 0 up to float error, and later
ones near 0 (``update_bn`` normalizes with batch statistics while it estimates, so deeper layers' inputs
differ slightly from evaluation mode).

Caching: the adapted features go to the feature cache under a key that adds the adaptation (method
version, the training items it used, the batch size) to the usual dataset / variant / model-weights
key, with the BN-shift numbers beside them; a repeat reads files and adapts nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from core import __version__
from core.errors import InvalidDataset
from core.evaluate.datasets import Dataset
from core.evaluate.features import FeatureCache, extract, model_fingerprint
from core.evaluate.metrics import mcnemar_exact, score
from core.preprocess.variant import Variant
from core.provenance import StopCheck, Stopped

ADAPTATIONS = ("bn",)
ADABN_BATCH = 32
SHIFT_ITEMS = 512
_VERSION = "adabn-1"


def adaptation_description() -> str:
    return (f"AdaBN: every BatchNorm's running mean/variance re-estimated on the training side under the variant "
            f"(torch.optim.swa_utils.update_bn, cumulative average, batches of {ADABN_BATCH}) on a private copy "
            f"of the model; BN-shift over at most {SHIFT_ITEMS} training items")


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


def adaptation_items(split) -> np.ndarray:
    """Training items the statistics are re-estimated on: the training side of the split, or the whole
    given training set for zero-shot with a separate test set. Refused when there is no training side."""
    if len(split.train_idx):
        return np.asarray(split.train_idx)
    if split.test is not split.train:
        return np.arange(len(split.train))
    raise InvalidDataset("BatchNorm re-estimation needs training items; zero-shot without --test scores every item "
                         "and has none. Give a separate test set or use --method probe.")


def add_adapted(split, variants: Sequence[Variant], model, scored: list, *, method: str, seed: int,
                cache_dir=None, matches: dict | None = None, batch_size: int = 8,
                report: Callable[[float, str], None] | None = None, should_stop: StopCheck | None = None) -> None:
    """Re-estimate BatchNorm per variant and set ``scored[i].adapted`` (accuracy, ci95, McNemar p vs the
    unadapted run, BN-shift per layer before/after, macro accuracy, discordant pairs, cached, seconds)."""
    from core.evaluate.methods import fit_probe, probe_predict, zeroshot_predict

    if method not in ("probe", "zeroshot"):
        raise InvalidDataset(f"BatchNorm re-estimation goes with --method probe or zeroshot, not {method} "
                             "(finetune trains the BatchNorm layers itself).")
    adapt_idx = adaptation_items(split)
    rng = np.random.default_rng(seed)
    shift_idx = np.sort(rng.choice(adapt_idx, size=min(SHIFT_ITEMS, len(adapt_idx)), replace=False))
    tag = _adaptation_tag(split.train, adapt_idx)
    cache = _AdaptedCache(cache_dir, model, tag)
    sets = [split.train] if split.test is split.train else [split.train, split.test]
    y_test = split.test.labels[split.test_idx]
    report = report or (lambda f, m: None)
    for i, (v, s) in enumerate(zip(variants, scored, strict=True)):
        lo, hi = i / len(variants), (i + 1) / len(variants)
        t0 = time.perf_counter()
        shift_file = cache.root / f"{cache.key(split.train, v, model)}.adabn.json"
        feats = {id(ds): _cached(cache, ds, v, model) for ds in sets}
        shifts = _read_json(shift_file)
        hit = shifts is not None and all(f is not None for f in feats.values())
        if not hit:
            report(lo, f"{v.name}: BN-shift before re-estimation")
            before = dataset_bn_shift(model.private_copy(), _tensors(prepared_batches(
                split.train, shift_idx, v, model, batch_size, should_stop)))
            report(lo + 0.2 * (hi - lo), f"{v.name}: re-estimating BatchNorm statistics on {len(adapt_idx)} items")
            twin = adapt_bn(model, _tensors(prepared_batches(split.train, adapt_idx, v, model, ADABN_BATCH,
                                                              should_stop)))
            report(lo + 0.5 * (hi - lo), f"{v.name}: BN-shift after re-estimation")
            after = dataset_bn_shift(twin, _tensors(prepared_batches(split.train, shift_idx, v, model, batch_size,
                                                                     should_stop)))
            for k, ds in enumerate(sets):
                feats[id(ds)] = extract(ds, [v], twin, cache, batch_size=batch_size, should_stop=should_stop,
                                        progress=report, progress_span=(lo + (0.6 + 0.2 * k) * (hi - lo),
                                                                        lo + (0.8 + 0.2 * k) * (hi - lo)))[v.spec_key()]
            shifts = {"before": before, "after": after, "n_adapt": int(len(adapt_idx)),
                      "n_shift": int(len(shift_idx))}
            shift_file.parent.mkdir(parents=True, exist_ok=True)
            shift_file.write_text(json.dumps(shifts), encoding="utf-8")
        tr, te = feats[id(split.train)], feats[id(split.test)]
        if method == "zeroshot":
            pred = zeroshot_predict(te.logits[split.test_idx], split.test.classes, matches or {})
        else:
            clf = fit_probe(tr.pooled[split.train_idx], split.train.labels[split.train_idx], seed)
            pred = probe_predict(clf, te.pooled[split.test_idx])
        sc = score(y_test, pred, split.test.classes)
        correct = pred == y_test
        p, b, c = mcnemar_exact(s.correct, correct)
        s.adapted = {
            "accuracy": sc.accuracy, "ci95": [sc.ci95[0], sc.ci95[1]], "mcnemar_p_vs_unadapted": p,
            "discordant_vs_unadapted": {"unadapted_only": b, "adapted_only": c},
            "macro_accuracy": sc.macro_accuracy, "n_correct": sc.n_correct, "n_test": sc.n_test,
            "bn_shift_before": shifts["before"], "bn_shift_after": shifts["after"],
            "n_adaptation_items": shifts["n_adapt"], "n_shift_items": shifts["n_shift"],
            "cached": hit, "seconds": time.perf_counter() - t0,
        }
        report(hi, f"{v.name}: adapted accuracy {sc.accuracy:.3f}")


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
    """The CLI's second table: per variant, accuracy without and with re-estimation, McNemar p between them,
    and the stem / head dataset BN-shift before -> after; None when the sweep adapted nothing."""
    from core.cliutil import format_table

    rows = []
    for i, v in enumerate(result.variants):
        a = getattr(v, "adapted", None)
        if not a:
            continue
        layers = list(a["bn_shift_before"])
        shift = "  ".join(f"{n} {a['bn_shift_before'][n]:.3g}->{a['bn_shift_after'][n]:.3g}"
                          for n in (layers[0], layers[-1])) if layers else "-"
        rows.append([v.name + (" (ref)" if i == 0 else ""), f"{v.accuracy:.3f}", f"{a['accuracy']:.3f}",
                     f"[{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}]", f"{a['mcnemar_p_vs_unadapted']:.3g}", shift])
    if not rows:
        return None
    return format_table(rows, ["variant", "unadapted", "BN re-est.", "95% CI", "McNemar p (vs unadapted)",
                               "dataset BN-shift before->after"])
