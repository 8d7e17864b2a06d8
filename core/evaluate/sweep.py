"""Sweeps: a variant set scored on a labelled dataset, with intervals and paired tests vs the reference.

``evaluate_sweep`` splits the data (given test set, grouped or stratified, seeded), extracts pooled
features for every variant in one streamed, disk-cached pass (``core.evaluate.features``), scores each
variant with the chosen method (``probe``, ``zeroshot`` or ``adapter``) on the same test items, and
compares every variant with the first one (the reference) by McNemar's exact test. The result carries
the full provenance: model, variant specs, dataset source and digest, split, method, seed, versions.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InvalidDataset
from core.evaluate.datasets import Dataset
from core.evaluate.features import DEFAULT_BATCH, FeatureCache, extract
from core.evaluate.methods import (
    METHODS,
    fit_probe,
    match_imagenet,
    probe_description,
    probe_predict,
    zeroshot_predict,
)
from core.evaluate.metrics import mcnemar_exact, score
from core.evaluate.splits import Split, all_items, given_split, make_split
from core.preprocess.variant import Variant, VariantSet
from core.provenance import Progress, StopCheck, versions

CONVENTIONS = ("accuracy = micro (correct / all test items); macro = mean per-class recall; "
               "ci95 = Wilson 95% interval of the micro accuracy; mcnemar_p = exact McNemar test "
               "(two-sided binomial on discordant pairs) vs the reference on the same test items")


@dataclass
class VariantScore:
    """One variant's scores on the sweep's test items (see ``CONVENTIONS``)."""

    name: str
    spec: dict
    accuracy: float
    ci95: tuple[float, float]
    macro_accuracy: float
    n_test: int
    n_correct: int
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    mcnemar_p: float | None
    discordant: tuple[int, int] | None
    seconds: float
    cached: bool
    details: dict = field(default_factory=dict)
    correct: np.ndarray | None = field(default=None, repr=False)
    #: With BatchNorm re-estimation (``core.evaluate.adabn``): the adapted run's scores, else None.
    adapted: dict | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "accuracy": self.accuracy, "ci95": [self.ci95[0], self.ci95[1]],
            "macro_accuracy": self.macro_accuracy, "n_test": self.n_test, "n_correct": self.n_correct,
            "mcnemar_p": self.mcnemar_p,
            "discordant": None if self.discordant is None else {"reference_only": self.discordant[0],
                                                                "variant_only": self.discordant[1]},
            "seconds": self.seconds, "cached": self.cached, "per_class": self.per_class,
            "confusion": self.confusion, "spec": self.spec, "details": self.details,
            **({"adapted": self.adapted} if self.adapted is not None else {}),
        }


@dataclass
class SweepResult:
    """All variants' scores, the class names (confusion order) and the provenance."""

    method: str
    classes: list[str]
    variants: list[VariantScore]
    provenance: dict
    seconds: float
    split: Split = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-able: ``{"method", "classes", "conventions", "provenance", "seconds", "variants": [...]}``."""
        return {"method": self.method, "classes": list(self.classes), "conventions": CONVENTIONS,
                "provenance": self.provenance, "seconds": self.seconds,
                "variants": [v.to_dict() for v in self.variants]}

    def table(self) -> list[dict]:
        """One row per variant: the numbers a results table shows."""
        return [{"variant": v.name, "accuracy": v.accuracy, "ci95_low": v.ci95[0], "ci95_high": v.ci95[1],
                 "macro_accuracy": v.macro_accuracy, "n_test": v.n_test, "mcnemar_p": v.mcnemar_p,
                 "seconds": v.seconds, "cached": v.cached} for v in self.variants]

    def to_csv(self) -> str:
        """The table as CSV text (header row first)."""
        rows = self.table()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def provenance_line(self) -> str:
        """One line: model, dataset, split, method, seed."""
        p = self.provenance
        ds = p["dataset"]["train"]
        sp = p["split"]
        return (f"model {p['model']} · dataset {ds['source']} ({ds['n_items']} items, {len(ds['classes'])} classes, "
                f"digest {ds['digest'][:12]}) · split {sp['kind']} seed {sp['seed']} "
                f"train {sp['n_train']} / test {sp['n_test']} · method {p['method']['name']} · seed {p['seed']}")


def evaluate_sweep(
    train: Dataset,
    variants: Sequence[Variant],
    model,
    *,
    test: Dataset | None = None,
    method: str = "probe",
    seed: int = 0,
    test_fraction: float = 0.2,
    group_split: bool | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    adapt: str | None = None,
) -> SweepResult:
    """Score every variant on ``train`` (split) or ``test`` (given) with ``method``; the first variant is the reference.

    ``probe`` and ``adapter`` train on the training side and score the test side; ``zeroshot`` trains
    nothing and scores the given test set, or every item when none is given. ``group_split`` None
    means grouped when the items carry groups. ``progress(fraction, message)`` is called as batches
    finish; ``should_stop()`` is checked between batches (Stopped). Refusals are InvalidDataset
    or InvalidVariant with a sentence for the user. ``finetune`` trains stem, BatchNorm and head
    (``core.evaluate.finetune``); ``adapt="bn"`` adds each variant's score after BatchNorm
    re-estimation (``core.evaluate.adabn``).
    """
    if method not in METHODS:
        raise InvalidDataset(f"Unknown method {method!r}; choose {', '.join(METHODS)}.")
    variants = list(VariantSet.of(variants))
    t_start = time.perf_counter()
    cache = FeatureCache(cache_dir)
    classes = train.classes
    if test is not None and test.classes != classes:
        given_split(train, test)  # raises with the class differences
    matches = match_imagenet(classes, model.labels) if method == "zeroshot" else None
    if method == "zeroshot":
        split = given_split(train, test) if test is not None else all_items(train)
        if test is not None:
            split.train_idx = np.zeros(0, dtype=np.int64)
    else:
        split = make_split(train, test, test_fraction=test_fraction, seed=seed, group_split=group_split)

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, f)), msg)

    if adapt is not None and adapt not in ("bn",):
        raise InvalidDataset(f"Unknown adaptation {adapt!r}; the one available is 'bn' (BatchNorm re-estimation).")
    if adapt and method not in ("probe", "zeroshot"):
        raise InvalidDataset(f"BatchNorm re-estimation goes with --method probe or zeroshot, not {method}.")
    if method == "adapter":
        scored = _run_adapter(split, variants, model, seed, batch_size, report, should_stop)
    elif method == "finetune":
        from core.evaluate.finetune import run_finetune

        scored = run_finetune(split, variants, model, seed, batch_size, report, should_stop, cache)
    else:
        scored = _run_frozen(split, variants, model, cache, method, seed, matches, batch_size, report, should_stop)

    ref = scored[0]
    for v in scored:
        if v is ref:
            continue
        p, b, c = mcnemar_exact(ref.correct, v.correct)
        v.mcnemar_p, v.discordant = p, (b, c)
    if adapt == "bn":
        from core.evaluate.adabn import adaptation_description, add_adapted

        add_adapted(split, variants, model, scored, method=method, seed=seed, cache_dir=cache.root, matches=matches,
                    batch_size=batch_size, report=report, should_stop=should_stop)
    method_info = {"name": method}
    if method == "probe":
        method_info["classifier"] = probe_description()
    elif method == "zeroshot":
        method_info["imagenet_matches"] = {c: [model.labels[i] for i in idx] for c, idx in (matches or {}).items()}
        method_info["rule"] = "argmax of the ImageNet logits restricted to the matched classes"
    elif method == "finetune":
        from core.evaluate.finetune import finetune_description

        method_info["classifier"] = finetune_description()
        method_info["compared_with"] = probe_description()
    else:
        from core.evaluate.adapter import adapter_description

        method_info["classifier"] = adapter_description()
    if adapt == "bn":
        method_info["adaptation"] = adaptation_description()
    provenance = {
        "model": model.name,
        "model_description": model.description,
        "pretrained": bool(model.pretrained),
        "dataset": {"train": train.describe(), "test": None if test is None else test.describe()},
        "split": split.describe(),
        "method": method_info,
        "seed": seed,
        "conventions": CONVENTIONS,
        "cache_dir": str(cache.root),
        "versions": versions(),
    }
    report(1.0, "done")
    return SweepResult(method, list(classes), scored, provenance, time.perf_counter() - t_start, split)


def _datasets(split: Split) -> list[tuple[Dataset, str]]:
    if split.test is split.train:
        return [(split.train, "data")]
    out = [(split.test, "test")]
    if len(split.train_idx):
        out.insert(0, (split.train, "train"))
    return out


def _run_frozen(split: Split, variants: list[Variant], model, cache: FeatureCache, method: str, seed: int,
                matches: dict | None, batch_size: int, report: Callable[[float, str], None],
                should_stop: StopCheck | None) -> list[VariantScore]:
    sets = _datasets(split)
    feats: dict[str, dict] = {}
    span = 0.9 / len(sets)
    for k, (ds, role) in enumerate(sets):
        feats[role] = extract(ds, variants, model, cache, batch_size=batch_size, progress=report,
                              should_stop=should_stop, progress_span=(k * span, (k + 1) * span))
    tr_role = "data" if "data" in feats else "train"
    te_role = "data" if "data" in feats else "test"
    y_test = split.test.labels[split.test_idx]
    y_train = split.train.labels[split.train_idx]
    out = []
    for i, v in enumerate(variants):
        sk = v.spec_key()
        t0 = time.perf_counter()
        te = feats[te_role][sk]
        if method == "zeroshot":
            pred = zeroshot_predict(te.logits[split.test_idx], split.test.classes, matches or {})
            seconds = te.seconds
            cached = te.cached
        else:
            tr = feats[tr_role][sk]
            clf = fit_probe(tr.pooled[split.train_idx], y_train, seed)
            pred = probe_predict(clf, te.pooled[split.test_idx])
            seconds = te.seconds + (tr.seconds if tr is not te else 0.0)
            cached = te.cached and tr.cached
        seconds += time.perf_counter() - t0  # features plus fitting and predicting, not scoring
        s = score(y_test, pred, split.test.classes)
        out.append(VariantScore(v.name, v.to_dict(), s.accuracy, s.ci95, s.macro_accuracy, s.n_test, s.n_correct,
                                s.per_class, s.confusion, None, None, seconds, cached, correct=(pred == y_test)))
        report(0.9 + 0.1 * (i + 1) / len(variants), f"scored {v.name}")
    return out


def _run_adapter(split: Split, variants: list[Variant], model, seed: int, batch_size: int,
                 report: Callable[[float, str], None], should_stop: StopCheck | None) -> list[VariantScore]:
    from core.evaluate.adapter import gray_inputs, one_channel_variant, train_and_predict

    y_test = split.test.labels[split.test_idx]
    y_train = split.train.labels[split.train_idx]
    done: dict[str, tuple[np.ndarray, dict, float]] = {}
    out = []
    for i, v in enumerate(variants):
        key = one_channel_variant(v).spec_key()
        t0 = time.perf_counter()
        lo, hi = i / len(variants), (i + 1) / len(variants)
        if key not in done:
            report(lo, f"{v.name}: preparing one-channel inputs")
            g_tr = gray_inputs(split.train, split.train_idx, v, model, batch_size, should_stop)
            g_te = gray_inputs(split.test, split.test_idx, v, model, batch_size, should_stop)
            pred, info = train_and_predict(
                model, g_tr, y_train, g_te, len(split.train.classes), seed, should_stop=should_stop,
                progress=lambda f, m, lo=lo, hi=hi, name=v.name: report(lo + (hi - lo) * f, f"{name}: {m}"))
            done[key] = (pred, info, time.perf_counter() - t0)
            reused = False
        else:
            reused = True
        pred, info, secs = done[key]
        s = score(y_test, pred, split.test.classes)
        details = dict(info)
        details["same_one_channel_input_as_earlier_variant"] = reused
        out.append(VariantScore(v.name, v.to_dict(), s.accuracy, s.ci95, s.macro_accuracy, s.n_test, s.n_correct,
                                s.per_class, s.confusion, None, None, secs, False, details, correct=(pred == y_test)))
        report(hi, f"scored {v.name}")
    return out
