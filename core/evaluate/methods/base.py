"""The shape every evaluation method has, and the one loop that runs a method fold by fold.

A method (``Method``) turns a sweep's evaluation (``core.evaluate.folds.Evaluation``: one held-out split, a
given test set, or cross-validation folds) and its variants into one ``core.evaluate.scoring.Predictions`` per
variant: a predicted class and a confidence for every tested item, pooled over folds. Scoring, intervals and
paired tests are not a method's business (``core.evaluate.scoring``); neither is the table (``core.evaluate.report``).

``pool_over_folds`` is the loop all methods share: variants whose inputs are identical (equal ``keys``) are run
once and reused; for every other variant the method prepares its inputs once (``start``), then fits and predicts
fold by fold (``VariantRun.fold``), and the test items' predictions are scattered back into the pooled order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from core.evaluate.folds import Evaluation, Fold
from core.evaluate.scoring import Predictions
from core.preprocess.variant import Variant
from core.provenance import StopCheck

if TYPE_CHECKING:
    from core.evaluate.features import FeatureCache, StageTimes
    from core.models.registry import LoadedModel

Report = Callable[[float, str], None]


def span(report: Report, lo: float, hi: float) -> Report:
    """``report`` with its fraction mapped from [0, 1] onto [lo, hi] (one stage of a longer run)."""
    return lambda f, msg: report(lo + (hi - lo) * min(1.0, max(0.0, f)), msg)


@dataclass
class Context:
    """What a method is given besides the variants: the evaluation, the model, the feature cache, the seed, the
    resolved batch size, progress (``report(fraction, message)``), the stop check, the stage timer and the
    extraction engine."""

    ev: Evaluation
    model: LoadedModel
    cache: FeatureCache
    seed: int
    batch_size: int
    report: Report
    should_stop: StopCheck | None = None
    times: StageTimes | None = None
    #: The extraction engine of the frozen features (None: in-process; ``core.evaluate.features.extract``).
    engine: object | None = None


class Method(Protocol):
    """An evaluation method. ``name`` is its ``--method`` word (its help line is in the registry); ``compared_with``
    names a method run beside it on the same folds and items (finetune vs probe), or None; ``fixed_batch`` is the
    decode batch used with ``--batch auto`` when the method does not use the measured forward batch (None: it does);
    ``extracts_features`` says whether it reads the shared feature cache."""

    name: str
    compared_with: str | None
    fixed_batch: int | None
    extracts_features: bool

    def check(self, classes: list[str], model: LoadedModel) -> None:
        """Refuse, before any work, a dataset the method cannot score (InvalidDataset with a sentence)."""

    def describe(self, classes: list[str], model: LoadedModel) -> dict:
        """The method's provenance entry (``name`` is added by the sweep): classifier, rule, matches."""

    def predict(self, ctx: Context, variants: Sequence[Variant]) -> list[Predictions]:
        """One pooled ``Predictions`` per variant, aligned with ``ctx.ev.test_idx``."""


class VariantRun(Protocol):
    """A method's work on one distinct input: its inputs are prepared; ``fold`` fits on a fold's training side and
    predicts its test items (class indices, confidences, a summary); ``finish`` makes the pooled Predictions."""

    def fold(self, k: int, fold: Fold, report: Report) -> tuple[np.ndarray, np.ndarray, dict]: ...

    def finish(self, predicted: np.ndarray, confidence: np.ndarray, infos: list[dict], seconds: float
               ) -> Predictions: ...


def pool_over_folds(ev: Evaluation, variants: Sequence[Variant], keys: Sequence[str],
                    start: Callable[[int, Variant, Report], VariantRun],
                    repeat: Callable[[int, Variant, Predictions], Predictions], report: Report) -> list[Predictions]:
    """Run a method over every variant and fold and pool each variant's test predictions in ``ev.test_idx`` order.

    ``keys[i]`` is equal for variants whose inputs are identical: the first is run, the later ones get
    ``repeat(i, variant, first)``. Otherwise ``start(i, variant, report)`` prepares the variant's inputs and
    returns its ``VariantRun``; each fold's ``fold`` reports progress within its own share of the bar."""
    tested = ev.test_idx
    n_folds = len(ev.folds)
    steps = len(variants) * n_folds
    done: dict[str, Predictions] = {}
    out: list[Predictions] = []
    for i, v in enumerate(variants):
        if keys[i] in done:
            out.append(repeat(i, v, done[keys[i]]))
            report((i + 1) / len(variants), f"{v.name}: same input as an earlier variant")
            continue
        t0 = time.perf_counter()
        run = start(i, v, span(report, i / len(variants), i / len(variants)))
        predicted = np.empty(len(tested), dtype=np.int64)
        confidence = np.empty(len(tested), dtype=np.float32)
        infos = []
        for k, f in enumerate(ev.folds):
            lo, hi = (i * n_folds + k) / steps, (i * n_folds + k + 1) / steps
            p, c, info = run.fold(k, f, span(report, lo, hi))
            at = np.searchsorted(tested, f.test_idx)
            predicted[at], confidence[at] = p, c
            infos.append(info)
            report(hi, f"scored {v.name}" + (f", fold {f.name}" if n_folds > 1 else ""))
        done[keys[i]] = run.finish(predicted, confidence, infos, time.perf_counter() - t0)
        out.append(done[keys[i]])
        del run  # the next variant's inputs are prepared after this one's are released
    return out
