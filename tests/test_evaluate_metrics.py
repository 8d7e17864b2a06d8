"""Metrics against hand-computed values: Wilson intervals, exact McNemar p-values, micro vs macro accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluate.metrics import mcnemar_exact, score, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        # p = 0.8, n = 10, z = 1.96: center (0.8 + 0.19208) / 1.38416 = 0.71675,
        # half 1.41602 * sqrt(0.016 + 0.009604) = 0.22658  (R: prop.test(8, 10, correct=FALSE))
        (8, 10, 0.4901625, 0.9433178),
        # k = 0: [0, z^2 / (n + z^2)] = [0, 3.8415 / 13.8415]
        (0, 10, 0.0, 0.2775328),
        # k = n: [n / (n + z^2), 1]
        (10, 10, 0.7224672, 1.0),
        # p = 0.5, n = 100: center 0.5, half 1.96 / 1.038415 * sqrt(0.0025 + 0.000096) = 0.0962
        (50, 100, 0.4038315, 0.5961685),
    ],
)
def test_wilson_interval_matches_hand_computed_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-6)


def test_wilson_interval_edge_cases() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(1, 3)
    assert 0 < lo < 1 / 3 < hi < 1
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (5, 0, 2 * 0.5**5),  # 0.0625
        (0, 5, 2 * 0.5**5),
        (1, 1, 1.0),
        (10, 2, 2 * (1 + 12 + 66) / 4096),  # 2 * P(X <= 2), X ~ Bin(12, 1/2) = 0.03857...
        (3, 4, 1.0),  # two-sided, the observed split is the most likely one
        (0, 0, 1.0),  # no discordant pairs
    ],
)
def test_mcnemar_exact_matches_binomial_by_hand(b: int, c: int, p: float) -> None:
    agree_right, agree_wrong = 7, 3
    ref = np.array([True] * b + [False] * c + [True] * agree_right + [False] * agree_wrong)
    var = np.array([False] * b + [True] * c + [True] * agree_right + [False] * agree_wrong)
    got, gb, gc = mcnemar_exact(ref, var)
    assert (gb, gc) == (b, c)
    assert got == pytest.approx(p, rel=1e-12)


def test_mcnemar_rejects_unpaired_vectors() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


def test_score_micro_macro_per_class_and_confusion() -> None:
    # class 0: 8 items, 8 right; class 1: 2 items, 0 right -> micro 0.8, macro (1 + 0) / 2 = 0.5
    y_true = np.array([0] * 8 + [1] * 2)
    y_pred = np.array([0] * 8 + [0] * 2)
    s = score(y_true, y_pred, ["a", "b"])
    assert s.n_test == 10 and s.n_correct == 8
    assert s.accuracy == pytest.approx(0.8)
    assert s.macro_accuracy == pytest.approx(0.5)
    assert s.per_class == {"a": 1.0, "b": 0.0}
    assert s.confusion == [[8, 0], [2, 0]]
    assert s.ci95 == pytest.approx(wilson_interval(8, 10))


def test_score_ignores_absent_classes_in_macro() -> None:
    s = score(np.array([0, 0, 2]), np.array([0, 1, 2]), ["a", "b", "c"])
    assert s.per_class["b"] is None
    assert s.macro_accuracy == pytest.approx((0.5 + 1.0) / 2)
    assert math.isclose(s.accuracy, 2 / 3)
