"""Scoring pooled predictions: per-item predictions, fold scores, paired tests, and two runs on the same items.

The leaf of the evaluation wing: it knows predictions and labels, not methods, models or datasets, and nothing
it imports comes back to it (only ``core.evaluate.metrics``). Every run in a sweep (a variant under a method,
the same variant after BatchNorm re-estimation, the probe beside fine-tuning) is a ``Predictions`` on the
sweep's tested items; ``score_run`` turns it into pooled scores and per-fold scores, and ``Comparison`` pairs
two runs on the same items (exact McNemar on the pooled items, Wilcoxon across folds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from core.evaluate.metrics import Scores, fold_paired_test, mcnemar_exact, score

#: The statistics conventions, stated once (every JSON result and printed report carries this sentence).
CONVENTIONS = ("accuracy = micro (correct / all test items); macro = mean per-class recall; "
               "ci95 = Wilson 95% interval of the micro accuracy; mcnemar_p = exact McNemar test "
               "(two-sided binomial on discordant pairs) vs the reference on the same test items; under "
               "cross-validation every item is tested exactly once and n_test, accuracy, ci95 and mcnemar_p are "
               "pooled over all folds, folds lists each fold's accuracy and fold_test_p is a two-sided Wilcoxon "
               "signed-rank test on the per-fold accuracy differences vs the reference; confidence = the "
               "probability the method gives its predicted class")


@dataclass
class Predictions:
    """One run's pooled predictions before scoring, aligned with the sweep's tested items: class index and
    confidence per item, seconds spent, whether everything came from the cache, the input ``key`` (equal for
    identical network inputs) and the method's details."""

    predicted: np.ndarray
    confidence: np.ndarray
    seconds: float
    cached: bool
    key: str
    details: dict = field(default_factory=dict)

    def repeated(self, flag: str) -> Predictions:
        """This run reused for a later variant with the same input: same predictions, not cached, and
        ``details[flag] = True``."""
        return replace(self, cached=False, details={**self.details, flag: True})


@dataclass
class Scoring:
    """A run scored on the tested items: pooled scores (``core.evaluate.metrics.Scores``), each fold's
    ``{"name", "n_test", "accuracy", "n_correct"}`` and per-item correctness."""

    scores: Scores
    folds: list[dict]
    correct: np.ndarray


def fold_scores(correct: np.ndarray, fold_of: np.ndarray, names: Sequence[str]) -> list[dict]:
    """Per fold: ``{"name", "n_test", "accuracy", "n_correct"}`` from per-item correctness and each item's fold."""
    out = []
    for k, name in enumerate(names):
        m = fold_of == k
        n, nc = int(m.sum()), int(correct[m].sum())
        out.append({"name": name, "n_test": n, "accuracy": nc / n if n else math.nan, "n_correct": nc})
    return out


def fold_spread(folds: Sequence[dict]) -> dict | None:
    """Sample standard deviation, minimum and maximum of the fold accuracies (None for fewer than two folds)."""
    if len(folds) < 2:
        return None
    acc = np.array([f["accuracy"] for f in folds], dtype=np.float64)
    return {"sd": float(acc.std(ddof=1)), "min": float(acc.min()), "max": float(acc.max())}


def score_run(y: np.ndarray, predicted: np.ndarray, fold_of: np.ndarray, fold_names: Sequence[str],
              classes: list[str]) -> Scoring:
    """Pooled scores and fold scores of predictions on the tested items (true classes ``y``, fold of each item)."""
    correct = np.asarray(predicted) == y
    return Scoring(score(y, predicted, classes), fold_scores(correct, fold_of, fold_names), correct)


@dataclass(frozen=True)
class Comparison:
    """Two runs on the same items, ``a`` against ``b``: the exact McNemar p on the pooled items with its
    discordant counts (``a_only`` right only under a, ``b_only`` right only under b), and the paired test
    across folds (None for one fold)."""

    p: float
    a_only: int
    b_only: int
    fold_p: float | None

    @classmethod
    def of(cls, a: Scoring, b: Scoring) -> Comparison:
        p, a_only, b_only = mcnemar_exact(a.correct, b.correct)
        fold_p = fold_paired_test([f["n_correct"] for f in a.folds], [f["n_correct"] for f in b.folds],
                                  [f["n_test"] for f in a.folds])
        return cls(p, a_only, b_only, fold_p)
