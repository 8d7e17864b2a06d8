"""Honest power: what the paired tests could ever show at a given size, said before and after a sweep.

Exact facts, no assumed effect sizes:

- McNemar's exact test is a two-sided binomial test on the discordant items. With ``m`` discordant
  items the smallest p it can give is ``2 * 0.5**m`` (all of them changed the same way), so p < 0.05
  needs at least ``MIN_DISCORDANT`` = 6 items changed in one direction beyond the other: two
  accuracies on ``n`` test items must differ by at least ``6 / n``. Below ``MIN_TEST_ITEMS`` (60) that is
  more than ten accuracy points, and the note says so and offers all items or cross-validation.
- After a sweep: a variant can only be shown better than the reference on items the reference got
  wrong, and worse on items it got right; fewer than 6 of either rules that direction out.
- The paired test across folds (Wilcoxon signed-rank, exact) can give at best ``2 / 2**k`` with ``k``
  folds, so with 5 folds or fewer it cannot reach p < 0.05 at all.
"""

from __future__ import annotations

ALPHA = 0.05
#: Ten accuracy points: below this many test items no difference smaller than that can reach p < ALPHA.
SMALLEST_USEFUL_DIFFERENCE = 0.10


def min_discordant(alpha: float = ALPHA) -> int:
    """The fewest discordant items for which McNemar's exact two-sided test can give p < ``alpha`` (6 at 0.05)."""
    m = 1
    while 2.0 * 0.5**m >= alpha:
        m += 1
    return m


MIN_DISCORDANT = min_discordant()
MIN_TEST_ITEMS = int(round(MIN_DISCORDANT / SMALLEST_USEFUL_DIFFERENCE))


def fold_test_min_p(k: int) -> float:
    """The smallest two-sided p of the exact paired test across ``k`` folds (all differences one way)."""
    return min(1.0, 2.0 / 2.0**k) if k > 0 else 1.0


def _remedy(cross_validated: bool, subsampled: bool) -> str:
    if cross_validated:
        return "Use all items." if subsampled else "Only more items can help: cross-validation already tests each one."
    if subsampled:
        return "Use all items or cross-validation (every item tested once)."
    return "Use cross-validation (every item tested once) or more items."


def size_notes(n_test: int, n_folds: int = 1, *, subsampled: bool = False) -> list[str]:
    """Sentences for what the test-item count and the fold count rule out (empty when neither limits), each with
    what would help (``subsampled``: the items are a subset of the dataset)."""
    notes = []
    if 0 < n_test < MIN_TEST_ITEMS:
        notes.append(
            f"With {n_test} test items, McNemar's exact test can reach p < {ALPHA:g} only when two accuracies differ "
            f"by at least {MIN_DISCORDANT} items ({MIN_DISCORDANT / n_test:.0%} of the test set), all changed the "
            f"same way; smaller differences could not be shown at this size. {_remedy(n_folds > 1, subsampled)}"
        )
    if 2 <= n_folds and fold_test_min_p(n_folds) >= ALPHA:
        notes.append(
            f"With {n_folds} folds the paired test across folds cannot reach p < {ALPHA:g} (its smallest possible "
            f"p is {fold_test_min_p(n_folds):.3g}); read the pooled McNemar test and the spread across folds."
        )
    return notes


def result_notes(n_test: int, n_folds: int, reference_correct: int, *, subsampled: bool = False) -> list[str]:
    """``size_notes`` plus what the reference's own score rules out (too few errors to fix, or too few
    right answers to break)."""
    notes = size_notes(n_test, n_folds, subsampled=subsampled)
    wrong = n_test - reference_correct
    if n_test >= MIN_TEST_ITEMS:  # below, the size note already says it
        if wrong < MIN_DISCORDANT:
            notes.append(
                f"The reference got only {wrong} of {n_test} test items wrong, so no variant could have been shown "
                f"significantly better (p < {ALPHA:g} needs at least {MIN_DISCORDANT} items fixed and none broken)."
            )
        if reference_correct < MIN_DISCORDANT:
            notes.append(
                f"The reference got only {reference_correct} of {n_test} test items right, so no variant could have "
                f"been shown significantly worse (p < {ALPHA:g} needs at least {MIN_DISCORDANT} items broken)."
            )
    return notes
