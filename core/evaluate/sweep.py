"""Sweeps: a variant set scored on a labelled dataset, with intervals, paired tests and per-item evidence.

``evaluate_sweep`` chooses the test items (``core.evaluate.folds``: one held-out split, a given test set,
or cross-validation where every item is tested exactly once), extracts pooled features for every
variant in one streamed, disk-cached pass over the data (``core.evaluate.features``; K folds reuse that
one extraction), scores each variant with the chosen method (``probe``, ``zeroshot``, ``adapter`` or
``finetune``) fold by fold, and pools the predictions. ``finetune`` (``core.evaluate.methods.finetune``) trains
stem, BatchNorm and head per fold and is compared with the probe on the same items; ``adapt="bn"``
(``core.evaluate.methods.adabn``) adds each variant's scores after BatchNorm re-estimation on each fold's
training side. Every variant then gets: accuracy, Wilson interval and exact McNemar test vs the
reference on the pooled items, each fold's accuracy and a paired test across folds, per-class recall,
a confusion matrix, and its prediction and confidence for every test item. Variants whose features are
bit-identical are grouped with a sentence saying why (``core.evaluate.sameinput``); what the test size
cannot show is said in ``notes`` (``core.evaluate.power``). The result carries the full provenance:
model and weights fingerprint, variant specs, dataset source and digest, folds, method, seed, versions,
timings.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InvalidDataset
from core.evaluate.cachefiles import remove_orphans
from core.evaluate.datasets import Dataset
from core.evaluate.features import (
    DEFAULT_BATCH,
    IN_PROCESS,
    FeatureCache,
    StageTimes,
    model_fingerprint,
    resolve_batch,
)
from core.evaluate.folds import describe_line, make_evaluation, overlap_warning
from core.evaluate.methods import get_method, method_names
from core.evaluate.methods.adabn import BatchNormAdaptation, adaptation_items, adapted_entry, check_adaptation
from core.evaluate.methods.base import Context, span
from core.evaluate.power import result_notes
from core.evaluate.sameinput import explain, group_by
from core.evaluate.scoring import CONVENTIONS, Comparison, Predictions, Scoring, fold_spread, score_run
from core.evaluate.splits import given_split
from core.evaluate.tuning import recorded
from core.preprocess.recipe import for_network
from core.preprocess.variant import Variant, VariantSet
from core.provenance import Progress, StopCheck, versions
from core.shared import public_path


@dataclass(frozen=True)
class ScoredItem:
    """One tested item: file name, path inside the dataset, true class index, group, index of its fold."""

    name: str
    path: str
    label: int
    group: str | None
    fold: int


@dataclass
class VariantScore:
    """One variant's scores on the sweep's test items (see ``CONVENTIONS``); ``predicted`` and ``confidence``
    are aligned with ``SweepResult.items``."""

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
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    folds: list[dict] = field(default_factory=list)
    fold_test_p: float | None = None
    same_input_as: str | None = None
    #: With BatchNorm re-estimation (``core.evaluate.methods.adabn``): the adapted run's scores (JSON-able), else None.
    adapted: dict | None = None

    @property
    def fold_spread(self) -> dict | None:
        return fold_spread(self.folds)

    def to_dict(self, classes: Sequence[str], items: Sequence[ScoredItem]) -> dict:
        return {
            "name": self.name, "accuracy": self.accuracy, "ci95": [self.ci95[0], self.ci95[1]],
            "macro_accuracy": self.macro_accuracy, "n_test": self.n_test, "n_correct": self.n_correct,
            "mcnemar_p": self.mcnemar_p,
            "discordant": None if self.discordant is None else {"reference_only": self.discordant[0],
                                                                "variant_only": self.discordant[1]},
            "folds": [dict(f) for f in self.folds], "fold_test_p": self.fold_test_p, "fold_spread": self.fold_spread,
            "same_input_as": self.same_input_as,
            "seconds": self.seconds, "cached": self.cached, "per_class": self.per_class,
            "confusion": self.confusion, "spec": self.spec, "details": self.details,
            "items": [{"name": it.name, "label": classes[it.label], "predicted": classes[int(p)],
                       "confidence": float(c)}
                      for it, p, c in zip(items, self.predicted, self.confidence, strict=True)],
            **({"adapted": self.adapted} if self.adapted is not None else {}),
        }


@dataclass
class SweepResult:
    """All variants' scores, the class names (confusion order), the tested items, the folds, the notes on
    what this size can show, the identical-input groups, the provenance and, once recorded, the run id."""

    method: str
    classes: list[str]
    variants: list[VariantScore]
    provenance: dict
    seconds: float
    items: list[ScoredItem] = field(default_factory=list)
    folds: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    identical: list[dict] = field(default_factory=list)
    run_id: int | None = None

    @property
    def labels(self) -> np.ndarray:
        return np.array([it.label for it in self.items], dtype=np.int64)

    @property
    def cross_validated(self) -> bool:
        return len(self.folds) > 1

    def correct(self, index: int) -> np.ndarray:
        """Per tested item: did variant ``index`` predict its class?"""
        return self.variants[index].predicted == self.labels

    def to_dict(self) -> dict:
        """JSON-able: ``{"run_id", "method", "classes", "conventions", "provenance", "seconds", "notes",
        "identical_inputs", "folds", "items", "variants": [...]}``, every variant entry naming its ``"model"``;
        ``SweepResult.from_dict`` reads it back."""
        return {"run_id": self.run_id, "method": self.method, "classes": list(self.classes),
                "conventions": self.provenance.get("conventions", CONVENTIONS), "provenance": self.provenance,
                "seconds": self.seconds,
                "notes": list(self.notes), "identical_inputs": [dict(g) for g in self.identical],
                "folds": [dict(f) for f in self.folds],
                "items": [{"name": it.name, "path": it.path, "label": self.classes[it.label], "group": it.group,
                           "fold": self.folds[it.fold]["name"] if self.folds else None} for it in self.items],
                "variants": [{"model": self.provenance.get("model"), **v.to_dict(self.classes, self.items)}
                             for v in self.variants]}

    @classmethod
    def from_dict(cls, data: dict) -> SweepResult:
        """The result a ``to_dict`` (or a stored run) describes, with the same numbers."""
        classes = list(data["classes"])
        index = {c: i for i, c in enumerate(classes)}
        folds = [dict(f) for f in data.get("folds", [])]
        fold_index = {f["name"]: k for k, f in enumerate(folds)}
        items = [ScoredItem(it["name"], it["path"], index[it["label"]], it.get("group"),
                            fold_index.get(it.get("fold"), 0)) for it in data.get("items", [])]
        variants = []
        for v in data["variants"]:
            disc = v.get("discordant")
            rows = v.get("items", [])
            variants.append(VariantScore(
                v["name"], v["spec"], v["accuracy"], (v["ci95"][0], v["ci95"][1]), v["macro_accuracy"], v["n_test"],
                v["n_correct"], v["per_class"], v["confusion"], v["mcnemar_p"],
                None if disc is None else (disc["reference_only"], disc["variant_only"]), v["seconds"], v["cached"],
                v.get("details", {}),
                np.array([index[r["predicted"]] for r in rows], dtype=np.int64),
                np.array([r["confidence"] for r in rows], dtype=np.float32),
                [dict(f) for f in v.get("folds", [])], v.get("fold_test_p"), v.get("same_input_as"),
                v.get("adapted")))
        return cls(data["method"], classes, variants, data["provenance"], data["seconds"], items, folds,
                   list(data.get("notes", [])), [dict(g) for g in data.get("identical_inputs", [])],
                   data.get("run_id"))

    def table(self) -> list[dict]:
        """One row per variant: the numbers a results table shows (pooled, with the folds' range)."""
        rows = []
        for v in self.variants:
            spread = v.fold_spread or {}
            rows.append({"variant": v.name, "accuracy": v.accuracy, "ci95_low": v.ci95[0], "ci95_high": v.ci95[1],
                         "macro_accuracy": v.macro_accuracy, "n_test": v.n_test, "mcnemar_p": v.mcnemar_p,
                         "fold_min": spread.get("min"), "fold_max": spread.get("max"), "fold_sd": spread.get("sd"),
                         "fold_test_p": v.fold_test_p, "same_input_as": v.same_input_as,
                         "seconds": v.seconds, "cached": v.cached})
        return rows

    def to_csv(self) -> str:
        """The table as CSV text (header row first)."""
        return csv_text(self.table())

    def item_rows(self) -> list[dict]:
        """Per-item evidence: one row per tested item and variant (name, path, label, group, fold, variant,
        predicted, confidence, correct; with BatchNorm re-estimation also the adapted prediction and confidence)."""
        rows = []
        for v in self.variants:
            adapted = (v.adapted or {}).get("items")
            for j, (it, p, c) in enumerate(zip(self.items, v.predicted, v.confidence, strict=True)):
                row = {"item": it.name, "path": it.path, "label": self.classes[it.label], "group": it.group,
                       "fold": self.folds[it.fold]["name"] if self.folds else "", "variant": v.name,
                       "predicted": self.classes[int(p)], "confidence": float(c), "correct": int(p) == it.label}
                if adapted:
                    row.update({"adapted_predicted": adapted[j]["predicted"],
                                "adapted_confidence": adapted[j]["confidence"]})
                rows.append(row)
        return rows

    def items_csv(self) -> str:
        """``item_rows`` as CSV (header row first; empty when nothing was tested)."""
        rows = self.item_rows()
        return csv_text(rows) if rows else ""

    def provenance_line(self) -> str:
        """One line: model, dataset (and any subset), folds or split, method, seed, run."""
        p = self.provenance
        ds = p["dataset"]["train"]
        sub = ds.get("subset")
        subset = "" if not sub else (f" · subset: at most {sub['per_class']} per class of {sub['of']} items, seed "
                                     f"{sub['seed']}")
        run = "" if self.run_id is None else f" · run #{self.run_id}"
        source = public_path(ds["source"])  # a shared server shows no server paths
        return (f"model {p['model']} · dataset {source} ({ds['n_items']} items, {len(ds['classes'])} classes, "
                f"digest {ds['digest'][:12]}){subset} · {describe_line(p['split'])} · method {p['method']['name']} "
                f"· seed {p['seed']}{run}")


def csv_text(rows: list[dict]) -> str:
    """Rows (dicts) as CSV text: a header of every key in order of first appearance, then the rows."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


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
    cv: str | int | None = "auto",
    cache_dir: str | Path | None = None,
    batch_size: int | str = DEFAULT_BATCH,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    adapt: str | None = None,
    engine=None,  # noqa: ANN001 - an extraction engine (core.evaluate.features.extract); None: in-process
) -> SweepResult:
    """Score every variant on ``train`` (folds or a split) or ``test`` (given); the first variant is the reference.

    ``cv`` chooses the folds (``core.evaluate.folds``: ``auto``, ``none``, ``groups`` or K). ``probe`` and
    ``adapter`` train on each fold's training side and score its test side; ``zeroshot`` trains nothing
    and scores the given test set, or every item when none is given. ``finetune`` trains stem, BatchNorm
    and head on each fold's training side (``core.evaluate.methods.finetune``) and is compared with the probe on the
    same items; ``adapt="bn"`` adds each variant's scores after BatchNorm re-estimation on each fold's
    training side (``core.evaluate.methods.adabn``). ``progress(fraction, message)`` is called as batches finish;
    ``should_stop()`` is checked between batches (Stopped). ``batch_size`` is an int or ``"auto"`` (measured
    once per model and machine, ``core.evaluate.tuning``). ``engine`` extracts the frozen features (default
    in-process; ``core.evaluate.rayengine.RayEngine``: Ray Data, the same bytes). Refusals are InvalidDataset or
    InvalidVariant with a sentence for the user.
    """
    if method not in method_names():
        raise InvalidDataset(f"Unknown method {method!r}; choose {', '.join(method_names())}.")
    if adapt is not None:
        check_adaptation(adapt, method)
    meth = get_method(method)
    variants = list(for_network(VariantSet.of(variants), model))  # "resize": "model" -> the model's recipe
    t_start = time.perf_counter()
    cache = FeatureCache(cache_dir)
    remove_orphans(cache.root)  # temporaries of sweeps that were killed (kill -9) are never read: delete them
    classes = train.classes
    if test is not None and test.classes != classes:
        given_split(train, test)  # raises with the class differences
    meth.check(classes, model)
    ev = make_evaluation(train, test, method=method, cv=cv, test_fraction=test_fraction, seed=seed,
                         group_split=group_split)
    if adapt is not None:
        adaptation_items(ev, ev.folds[0], seed)  # refuses before any work when there is nothing to adapt on

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, f)), msg)

    # the long remedies (fine-tuning, re-estimation) get most of the progress bar
    long = bool(adapt) or meth.compared_with is not None
    main = span(report, 0.0, 0.3) if long else report
    times = StageTimes()
    if meth.fixed_batch is not None and batch_size == "auto":  # its network runs inside its own training loop
        batch = meth.fixed_batch
    else:
        if batch_size == "auto" and recorded(model) is None:
            report(0.0, f"measuring the batch size for {model.name} on this machine (once, a few seconds)")
        batch = resolve_batch(batch_size, model)
    engine = engine or IN_PROCESS
    ctx = Context(ev, model, cache, seed, batch, main, should_stop, times, engine)
    baseline = None
    if meth.compared_with is not None:  # the baseline first, from the shared feature cache
        baseline = get_method(meth.compared_with).predict(ctx, variants)
        ctx.report = span(report, 0.3, 1.0)
    raws = meth.predict(ctx, variants)

    tested = ev.test_idx
    fold_of = ev.fold_of_tested()
    fold_names = [f.name for f in ev.folds]
    items = [ScoredItem(ev.test.item_name(ev.test.items[int(i)]), ev.test.item_path(ev.test.items[int(i)]),
                        ev.test.items[int(i)].label, ev.test.items[int(i)].group, int(k))
             for i, k in zip(tested, fold_of, strict=True)]
    y = ev.test.labels[tested]
    runs = [score_run(y, r.predicted, fold_of, fold_names, classes) for r in raws]
    scored = [_variant_score(v, r, s) for v, r, s in zip(variants, raws, runs, strict=True)]
    ref = scored[0]
    for v, run in zip(scored[1:], runs[1:], strict=True):
        cmp = Comparison.of(runs[0], run)
        v.mcnemar_p, v.discordant, v.fold_test_p = cmp.p, (cmp.a_only, cmp.b_only), cmp.fold_p
    if baseline is not None:
        for v, r, run in zip(scored, baseline, runs, strict=True):
            v.details[meth.compared_with] = _baseline_entry(score_run(y, r.predicted, fold_of, fold_names, classes),
                                                            run, meth.name, meth.compared_with)
    if adapt == "bn":
        adapted = BatchNormAdaptation(meth).predict(
            Context(ev, model, cache, seed, batch, span(report, 0.3, 1.0), should_stop), variants,
            [r.key for r in raws])
        for v, a, run in zip(scored, adapted, runs, strict=True):
            a_run = score_run(y, a.predicted, fold_of, fold_names, classes)
            v.adapted = adapted_entry(a, a_run, Comparison.of(run, a_run), fold_names, items, list(classes))
    identical = []
    for members in group_by([r.key for r in raws]):
        names = [variants[m].name for m in members]
        for m in members[1:]:
            scored[m].same_input_as = names[0]
        identical.append({"variants": names, "reason": explain([variants[m] for m in members], method=method,
                                                               mean=model.mean, std=model.std,
                                                               n_items=len(ev.train) + (0 if ev.test is ev.train
                                                                                        else len(ev.test)))})
    split = ev.describe()
    overlap = overlap_warning(split)
    subsampled = train.subsample is not None or (test is not None and test.subsample is not None)
    notes = list(split["notes"]) + ([overlap] if overlap else []) + result_notes(
        ref.n_test, len(ev.folds), ref.n_correct, subsampled=subsampled)
    method_info = {"name": method, **meth.describe(list(classes), model)}
    if adapt == "bn":
        method_info["adaptation"] = BatchNormAdaptation(meth).describe()
    provenance = {
        "model": model.name,
        "model_description": model.description,
        "model_fingerprint": model_fingerprint(model),
        "pretrained": bool(model.pretrained),
        "dataset": {"train": train.describe(), "test": None if test is None else test.describe()},
        "split": split,
        "cv_requested": str(cv if cv is not None else "auto"),
        "method": method_info,
        "seed": seed,
        "conventions": CONVENTIONS,
        "cache_dir": str(cache.root),
        "variant_set": VariantSet.of(variants).to_dict(),
        "versions": versions(),
        "extraction": {"device": str(model.device), "batch": batch,
                       "batch_choice": "given" if batch_size != "auto" else (
                           f"fixed for the {method}" if meth.fixed_batch is not None else "measured (auto)"),
                       "layout": times.layout or ("all features cached" if meth.extracts_features else method),
                       "engine": engine.info()},
    }
    report(1.0, "done")
    folds = [{"name": f.name, "n_train": int(len(f.train_idx)), "n_test": int(len(f.test_idx))} for f in ev.folds]
    return SweepResult(method, list(classes), scored, provenance, time.perf_counter() - t_start, items, folds,
                       notes, identical)


def _variant_score(v: Variant, raw: Predictions, run: Scoring) -> VariantScore:
    s = run.scores
    return VariantScore(v.name, v.to_dict(), s.accuracy, s.ci95, s.macro_accuracy, s.n_test, s.n_correct,
                        s.per_class, s.confusion, None, None, raw.seconds, raw.cached, raw.details,
                        raw.predicted, raw.confidence, run.folds)


def _baseline_entry(base: Scoring, run: Scoring, name: str, baseline: str) -> dict:
    """``details[baseline]`` of a method compared with another on the same items (finetune vs probe): the
    baseline's scores and the comparison between the two."""
    cmp = Comparison.of(base, run)
    s = base.scores
    return {"accuracy": s.accuracy, "ci95": [s.ci95[0], s.ci95[1]], "macro_accuracy": s.macro_accuracy,
            "n_correct": s.n_correct, "folds": [dict(f) for f in base.folds],
            f"mcnemar_p_{name}_vs_{baseline}": cmp.p,
            "discordant": {f"{baseline}_only": cmp.a_only, f"{name}_only": cmp.b_only},
            f"fold_test_p_{name}_vs_{baseline}": cmp.fold_p}
