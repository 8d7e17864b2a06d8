"""Metrics for sweeps: accuracy with a Wilson interval, macro accuracy, confusion, exact McNemar test.

Conventions, stated once: ``accuracy`` is *micro* (correct test items / all test items);
``macro_accuracy`` is the unweighted mean of per-class recall over the classes present in the test
set. Intervals are 95% Wilson score intervals for the micro accuracy. The paired comparison with the
reference is McNemar's exact test: a two-sided binomial test (p = 1/2) on the discordant pairs
(reference right and variant wrong, or the reverse); p = 1.0 when there are none. Under
cross-validation these are computed on the pooled items (each tested once), and the folds get a
second, coarser paired test: Wilcoxon's signed-rank test on the per-fold accuracy differences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``correct / n``; (0, 1) when ``n`` is zero.

    ``center = (p + z^2/2n) / (1 + z^2/n)``, ``half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)``.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, n]; got {correct} of {n}")
    p = correct / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def mcnemar_exact(reference_correct: np.ndarray, variant_correct: np.ndarray) -> tuple[float, int, int]:
    """Exact McNemar test on paired correctness vectors: (p-value, b, c).

    ``b`` counts items the reference got right and the variant wrong, ``c`` the reverse. The p-value
    is scipy's two-sided ``binomtest(b, b + c, 0.5)``; 1.0 when ``b + c == 0``.
    """
    from scipy.stats import binomtest

    r = np.asarray(reference_correct, dtype=bool)
    v = np.asarray(variant_correct, dtype=bool)
    if r.shape != v.shape:
        raise ValueError(f"paired vectors must have equal shapes; got {r.shape} and {v.shape}")
    b = int(np.sum(r & ~v))
    c = int(np.sum(~r & v))
    if b + c == 0:
        return 1.0, b, c
    return float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue), b, c


@dataclass
class Scores:
    """Per-variant scores on one test set (see the module docstring for micro and macro)."""

    n_test: int
    n_correct: int
    accuracy: float
    ci95: tuple[float, float]
    macro_accuracy: float
    per_class: dict[str, float | None]
    confusion: list[list[int]]


def score(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> Scores:
    """Micro accuracy with its Wilson interval, macro accuracy, per-class recall and the confusion matrix
    (rows = true class, columns = predicted class, in ``classes`` order)."""
    from sklearn.metrics import confusion_matrix

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(k))) if len(y_true) else np.zeros((k, k), dtype=int)
    n = int(len(y_true))
    correct = int(np.trace(cm))
    support = cm.sum(axis=1)
    per_class: dict[str, float | None] = {
        c: (float(cm[i, i] / support[i]) if support[i] else None) for i, c in enumerate(classes)
    }
    recalls = [v for v in per_class.values() if v is not None]
    return Scores(
        n_test=n,
        n_correct=correct,
        accuracy=correct / n if n else float("nan"),
        ci95=wilson_interval(correct, n),
        macro_accuracy=float(np.mean(recalls)) if recalls else float("nan"),
        per_class=per_class,
        confusion=cm.astype(int).tolist(),
    )


def fold_paired_test(reference_correct: Sequence[int], variant_correct: Sequence[int],
                     n_test: Sequence[int]) -> float | None:
    """Two-sided Wilcoxon signed-rank test on the per-fold accuracy differences (variant - reference).

    Folds where both score the same are dropped (Wilcoxon's convention); p = 1.0 when every fold ties;
    None with fewer than two folds. scipy's ``method="auto"`` is exact for up to 50 folds (ties included).
    Differences are taken from integer counts, so equal accuracies are exactly equal.
    """
    from scipy.stats import wilcoxon

    n = np.asarray(n_test, dtype=np.float64)
    if len(n) < 2:
        return None
    d = (np.asarray(variant_correct, dtype=np.float64) - np.asarray(reference_correct, dtype=np.float64)) / n
    d = d[d != 0]
    if len(d) == 0:
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto").pvalue)
