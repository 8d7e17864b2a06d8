"""Sweeps: a variant set scored on a labelled dataset, with intervals, paired tests and per-item evidence.

``evaluate_sweep`` chooses the test items (``core.evaluate.folds``: one held-out split, a given test set,
or cross-validation where every item is tested exactly once), extracts pooled features for every
variant in one streamed, disk-cached pass over the data (``core.evaluate.features``; K folds reuse that
one extraction), scores each variant with the chosen method (``probe``, ``zeroshot``, ``adapter`` or
``finetune``) fold by fold, and pools the predictions. ``finetune`` (``core.evaluate.finetune``) trains
stem, BatchNorm and head per fold and is compared with the probe on the same items; ``adapt="bn"``
(``core.evaluate.adabn``) adds each variant's scores after BatchNorm re-estimation on each fold's
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
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InvalidDataset
from core.evaluate.cachefiles import remove_orphans
from core.evaluate.datasets import Dataset
from core.evaluate.features import DEFAULT_BATCH, FeatureCache, StageTimes, extract, model_fingerprint, resolve_batch
from core.evaluate.folds import Evaluation, describe_line, make_evaluation, overlap_warning
from core.evaluate.methods import (
    METHODS,
    fit_probe,
    match_imagenet,
    probe_description,
    probe_predict_confidence,
    zeroshot_predict_confidence,
)
from core.evaluate.metrics import fold_paired_test, mcnemar_exact, score
from core.evaluate.power import result_notes
from core.evaluate.sameinput import explain, feature_fingerprint, group_by
from core.preprocess.recipe import resolve
from core.preprocess.variant import Variant, VariantSet
from core.provenance import Progress, StopCheck, versions
from core.shared import public_path

CONVENTIONS = ("accuracy = micro (correct / all test items); macro = mean per-class recall; "
               "ci95 = Wilson 95% interval of the micro accuracy; mcnemar_p = exact McNemar test "
               "(two-sided binomial on discordant pairs) vs the reference on the same test items; under "
               "cross-validation every item is tested exactly once and n_test, accuracy, ci95 and mcnemar_p are "
               "pooled over all folds, folds lists each fold's accuracy and fold_test_p is a two-sided Wilcoxon "
               "signed-rank test on the per-fold accuracy differences vs the reference; confidence = the "
               "probability the method gives its predicted class")


@dataclass(frozen=True)
class ScoredItem:
    """One tested item: file name, path inside the dataset, true class index, group, index of its fold."""

    name: str
    path: str
    label: int
    group: str | None
    fold: int


def fold_spread(folds: Sequence[dict]) -> dict | None:
    """Sample standard deviation, minimum and maximum of the fold accuracies (None for fewer than two folds)."""
    if len(folds) < 2:
        return None
    acc = np.array([f["accuracy"] for f in folds], dtype=np.float64)
    return {"sd": float(acc.std(ddof=1)), "min": float(acc.min()), "max": float(acc.max())}


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
    #: With BatchNorm re-estimation (``core.evaluate.adabn``): the adapted run's scores (JSON-able), else None.
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


@dataclass
class _Raw:
    """A variant's pooled predictions before scoring; ``key`` is equal for identical network inputs."""

    predicted: np.ndarray
    confidence: np.ndarray
    seconds: float
    cached: bool
    key: str
    details: dict = field(default_factory=dict)


#: With ``batch_size="auto"`` the adapter groups decoding in batches of this size (its network runs inside its own
#: training loop, so the measured forward batch does not apply).
ADAPTER_DECODE_BATCH = 32


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
) -> SweepResult:
    """Score every variant on ``train`` (folds or a split) or ``test`` (given); the first variant is the reference.

    ``cv`` chooses the folds (``core.evaluate.folds``: ``auto``, ``none``, ``groups`` or K). ``probe`` and
    ``adapter`` train on each fold's training side and score its test side; ``zeroshot`` trains nothing
    and scores the given test set, or every item when none is given. ``finetune`` trains stem, BatchNorm
    and head on each fold's training side (``core.evaluate.finetune``) and is compared with the probe on the
    same items; ``adapt="bn"`` adds each variant's scores after BatchNorm re-estimation on each fold's
    training side (``core.evaluate.adabn``). ``progress(fraction, message)`` is called as batches finish;
    ``should_stop()`` is checked between batches (Stopped). ``batch_size`` is an int or ``"auto"`` (measured
    once per model and machine, ``core.evaluate.tuning``). Refusals are InvalidDataset or InvalidVariant
    with a sentence for the user.
    """
    if method not in METHODS:
        raise InvalidDataset(f"Unknown method {method!r}; choose {', '.join(METHODS)}.")
    if adapt is not None:
        from core.evaluate.adabn import check_adaptation

        check_adaptation(adapt, method)
    variants = list(resolve(VariantSet.of(variants), model))  # "resize": "model" -> the model's recipe
    t_start = time.perf_counter()
    cache = FeatureCache(cache_dir)
    remove_orphans(cache.root)  # temporaries of sweeps that were killed (kill -9) are never read: delete them
    classes = train.classes
    if test is not None and test.classes != classes:
        from core.evaluate.splits import given_split

        given_split(train, test)  # raises with the class differences
    matches = match_imagenet(classes, model.labels) if method == "zeroshot" else None
    ev = make_evaluation(train, test, method=method, cv=cv, test_fraction=test_fraction, seed=seed,
                         group_split=group_split)
    if adapt is not None:
        from core.evaluate.adabn import adaptation_items

        adaptation_items(ev, ev.folds[0], seed)  # refuses before any work when there is nothing to adapt on

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, f)), msg)

    # the long remedies (fine-tuning, re-estimation) get most of the progress bar
    main = span(report, 0.0, 0.3) if adapt or method == "finetune" else report
    probe_raws = None
    times = StageTimes()
    if method == "adapter":  # its batches only group decoding; the network runs inside its training loop
        batch = ADAPTER_DECODE_BATCH if batch_size == "auto" else resolve_batch(batch_size, model)
        raws = _run_adapter(ev, variants, model, seed, batch, main, should_stop)
    else:
        if batch_size == "auto":
            from core.evaluate.tuning import recorded

            if recorded(model) is None:
                report(0.0, f"measuring the batch size for {model.name} on this machine (once, a few seconds)")
        batch = resolve_batch(batch_size, model)
        if method == "finetune":
            from core.evaluate.finetune import run_finetune

            probe_raws = _run_frozen(ev, variants, model, cache, "probe", seed, None, batch, main, should_stop,
                                     times)
            raws = run_finetune(ev, variants, model, seed, batch, span(report, 0.3, 1.0), should_stop)
        else:
            raws = _run_frozen(ev, variants, model, cache, method, seed, matches, batch, main, should_stop, times)

    tested = ev.test_idx
    fold_of = ev.fold_of_tested()
    items = [ScoredItem(ev.test.item_name(ev.test.items[int(i)]), ev.test.item_path(ev.test.items[int(i)]),
                        ev.test.items[int(i)].label, ev.test.items[int(i)].group, int(k))
             for i, k in zip(tested, fold_of, strict=True)]
    y = ev.test.labels[tested]
    scored = [_score(v, r, y, fold_of, ev, classes) for v, r in zip(variants, raws, strict=True)]
    ref = scored[0]
    for v in scored[1:]:
        p, b, c, v.fold_test_p = paired(ref.predicted == y, v.predicted == y, ref.folds, v.folds)
        v.mcnemar_p, v.discordant = p, (b, c)
    if probe_raws is not None:
        from core.evaluate.finetune import compare_with_probe

        compare_with_probe(scored, [_score(v, r, y, fold_of, ev, classes) for v, r in zip(variants, probe_raws,
                                                                                           strict=True)], y)
    if adapt == "bn":
        from core.evaluate.adabn import add_adapted

        add_adapted(ev, variants, model, scored, [r.key for r in raws], items, list(classes), method=method,
                    seed=seed, cache_dir=cache.root, matches=matches, batch_size=batch,
                    report=span(report, 0.3, 1.0), should_stop=should_stop)
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
    provenance = {
        "model": model.name,
        "model_description": model.description,
        "model_fingerprint": model_fingerprint(model),
        "pretrained": bool(model.pretrained),
        "dataset": {"train": train.describe(), "test": None if test is None else test.describe()},
        "split": split,
        "cv_requested": str(cv if cv is not None else "auto"),
        "method": _method_info(method, model, matches, adapt),
        "seed": seed,
        "conventions": CONVENTIONS,
        "cache_dir": str(cache.root),
        "variant_set": VariantSet.of(variants).to_dict(),
        "versions": versions(),
        "extraction": {"device": str(model.device), "batch": batch,
                       "batch_choice": "given" if batch_size != "auto" else (
                           "fixed for the adapter" if method == "adapter" else "measured (auto)"),
                       "layout": times.layout or ("all features cached" if method != "adapter" else "adapter")},
    }
    report(1.0, "done")
    folds = [{"name": f.name, "n_train": int(len(f.train_idx)), "n_test": int(len(f.test_idx))} for f in ev.folds]
    return SweepResult(method, list(classes), scored, provenance, time.perf_counter() - t_start, items, folds,
                       notes, identical)


def _method_info(method: str, model, matches: dict | None, adapt: str | None = None) -> dict:
    info: dict = {"name": method}
    if method == "probe":
        info["classifier"] = probe_description()
    elif method == "zeroshot":
        info["imagenet_matches"] = {c: [model.labels[i] for i in idx] for c, idx in (matches or {}).items()}
        info["rule"] = "argmax of the ImageNet logits restricted to the matched classes"
    elif method == "finetune":
        from core.evaluate.finetune import finetune_description

        info["classifier"] = finetune_description()
        info["compared_with"] = probe_description()
    else:
        from core.evaluate.adapter import adapter_description

        info["classifier"] = adapter_description()
    if adapt == "bn":
        from core.evaluate.adabn import adaptation_description

        info["adaptation"] = adaptation_description()
    return info


def span(report: Callable[[float, str], None], lo: float, hi: float) -> Callable[[float, str], None]:
    """``report`` with its fraction mapped from [0, 1] onto [lo, hi] (one stage of a longer run)."""
    return lambda f, msg: report(lo + (hi - lo) * min(1.0, max(0.0, f)), msg)


def fold_scores(correct: np.ndarray, fold_of: np.ndarray, names: Sequence[str]) -> list[dict]:
    """Per fold: ``{"name", "n_test", "accuracy", "n_correct"}`` from per-item correctness and each item's fold."""
    out = []
    for k, name in enumerate(names):
        m = fold_of == k
        n, nc = int(m.sum()), int(correct[m].sum())
        out.append({"name": name, "n_test": n, "accuracy": nc / n if n else math.nan, "n_correct": nc})
    return out


def paired(a_correct: np.ndarray, b_correct: np.ndarray, a_folds: Sequence[dict],
           b_folds: Sequence[dict]) -> tuple[float, int, int, float | None]:
    """Two runs on the same items: exact McNemar p with the discordant counts (a only, b only) on the pooled
    items, and the paired test across folds (None for one fold)."""
    p, b, c = mcnemar_exact(a_correct, b_correct)
    fold_p = fold_paired_test([f["n_correct"] for f in a_folds], [f["n_correct"] for f in b_folds],
                              [f["n_test"] for f in a_folds])
    return p, b, c, fold_p


def _score(v: Variant, raw: _Raw, y: np.ndarray, fold_of: np.ndarray, ev: Evaluation,
           classes: list[str]) -> VariantScore:
    s = score(y, raw.predicted, classes)
    folds = fold_scores(raw.predicted == y, fold_of, [f.name for f in ev.folds])
    return VariantScore(v.name, v.to_dict(), s.accuracy, s.ci95, s.macro_accuracy, s.n_test, s.n_correct,
                        s.per_class, s.confusion, None, None, raw.seconds, raw.cached, raw.details,
                        raw.predicted, raw.confidence, folds)


def _datasets(ev: Evaluation) -> list[tuple[Dataset, str]]:
    if ev.test is ev.train:
        return [(ev.train, "data")]
    out = [(ev.test, "test")]
    if any(len(f.train_idx) for f in ev.folds):
        out.insert(0, (ev.train, "train"))
    return out


def _run_frozen(ev: Evaluation, variants: list[Variant], model, cache: FeatureCache, method: str, seed: int,
                matches: dict | None, batch_size: int, report: Callable[[float, str], None],
                should_stop: StopCheck | None, times: StageTimes | None = None) -> list[_Raw]:
    sets = _datasets(ev)
    feats: dict[str, dict] = {}
    span = 0.9 / len(sets)
    for k, (ds, role) in enumerate(sets):
        feats[role] = extract(ds, variants, model, cache, batch_size=batch_size, progress=report,
                              should_stop=should_stop, progress_span=(k * span, (k + 1) * span), profile=times)
    tr_role = "data" if "data" in feats else "train"
    te_role = "data" if "data" in feats else "test"
    tested = ev.test_idx
    y_train = ev.train.labels
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    steps, step = len(variants) * len(ev.folds), 0
    for v in variants:
        sk = v.spec_key()
        key = feature_fingerprint(*(feats[role][sk].pooled for _, role in sets))
        te = feats[te_role][sk]
        tr = feats[tr_role][sk] if tr_role in feats else te
        t0 = time.perf_counter()
        details: dict = {}
        if key in done:
            pred, conf = done[key]
            details["same_features_as_earlier_variant"] = True
            step += len(ev.folds)
        else:
            pred = np.empty(len(tested), dtype=np.int64)
            conf = np.empty(len(tested), dtype=np.float32)
            for f in ev.folds:
                where = np.searchsorted(tested, f.test_idx)
                if method == "zeroshot":
                    p, c = zeroshot_predict_confidence(te.logits[f.test_idx], ev.test.classes, matches or {})
                else:
                    clf = fit_probe(tr.pooled[f.train_idx], y_train[f.train_idx], seed)
                    p, c = probe_predict_confidence(clf, te.pooled[f.test_idx])
                pred[where], conf[where] = p, c
                step += 1
                report(0.9 + 0.1 * step / steps, f"scored {v.name}, fold {f.name}")
            done[key] = (pred, conf)
        seconds = te.seconds + (tr.seconds if tr is not te else 0.0) + time.perf_counter() - t0
        out.append(_Raw(pred, conf, seconds, te.cached and tr.cached, key, details))
    return out


def _run_adapter(ev: Evaluation, variants: list[Variant], model, seed: int, batch_size: int,
                 report: Callable[[float, str], None], should_stop: StopCheck | None) -> list[_Raw]:
    import torch

    from core.evaluate.adapter import gray_inputs, one_channel_variant, train_and_predict

    tested = ev.test_idx
    y_train = ev.train.labels
    done: dict[str, _Raw] = {}
    out = []
    for i, v in enumerate(variants):
        key = one_channel_variant(v).spec_key()
        lo, hi = i / len(variants), (i + 1) / len(variants)
        if key in done:
            prev = done[key]
            out.append(_Raw(prev.predicted, prev.confidence, prev.seconds, False, key,
                            {**prev.details, "same_one_channel_input_as_earlier_variant": True}))
            report(hi, f"scored {v.name}")
            continue
        t0 = time.perf_counter()
        report(lo, f"{v.name}: preparing one-channel inputs")
        g_tr = gray_inputs(ev.train, np.arange(len(ev.train)), v, model, batch_size, should_stop)
        g_te = g_tr if ev.test is ev.train else gray_inputs(ev.test, np.arange(len(ev.test)), v, model, batch_size,
                                                            should_stop)
        pred = np.empty(len(tested), dtype=np.int64)
        conf = np.empty(len(tested), dtype=np.float32)
        infos = []
        n_folds = len(ev.folds)
        for k, f in enumerate(ev.folds):
            f_lo = lo + (hi - lo) * k / n_folds
            f_hi = lo + (hi - lo) * (k + 1) / n_folds
            p, c, info = train_and_predict(
                model, g_tr[torch.as_tensor(f.train_idx)], y_train[f.train_idx], g_te[torch.as_tensor(f.test_idx)],
                len(ev.train.classes), seed, should_stop=should_stop,
                progress=lambda fr, m, a=f_lo, b=f_hi, name=v.name: report(a + (b - a) * fr, f"{name}: {m}"))
            where = np.searchsorted(tested, f.test_idx)
            pred[where], conf[where] = p, c
            infos.append(info)
        details = dict(infos[0]) if n_folds == 1 else {"folds": infos}
        details["same_one_channel_input_as_earlier_variant"] = False
        done[key] = _Raw(pred, conf, time.perf_counter() - t0, False, key, details)
        out.append(done[key])
        report(hi, f"scored {v.name}")
    return out
