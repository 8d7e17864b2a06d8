"""Two recorded runs on the same dataset, side by side: paired on the items both tested.

Items are matched by their path inside the dataset and their class. For a variant of run A and a variant
of run B: each one's accuracy on the shared items with its Wilson interval, the exact McNemar test
between them on those items, and the discordant counts. ``compare_table`` does this for every variant
name the two runs share (the references always form the first row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import PrepscopeError
from core.evaluate.metrics import mcnemar_exact, wilson_interval
from core.evaluate.sweep import SweepResult


class NotComparable(PrepscopeError):
    """The two runs are not on the same dataset, or share no tested item."""


@dataclass(frozen=True)
class PairedComparison:
    """Variant ``a`` of run A against variant ``b`` of run B on ``n_shared`` shared items."""

    a: str
    b: str
    n_shared: int
    accuracy_a: float
    accuracy_b: float
    ci95_a: tuple[float, float]
    ci95_b: tuple[float, float]
    mcnemar_p: float
    a_only: int
    b_only: int


def same_dataset(a: SweepResult, b: SweepResult) -> bool:
    """Both runs tested items of one dataset: the same content digest, or the same source folder."""
    da, db = a.provenance["dataset"], b.provenance["dataset"]
    ta, tb = da["test"] or da["train"], db["test"] or db["train"]
    return ta["digest"] == tb["digest"] or (ta["source"] == tb["source"] and not ta.get("archive"))


def shared_items(a: SweepResult, b: SweepResult) -> tuple[np.ndarray, np.ndarray]:
    """Positions in A's and B's item lists of the items both tested (same path and class), in A's order."""
    if not same_dataset(a, b):
        raise NotComparable("The two runs are on different datasets; a paired comparison needs the same items. "
                            "Choose two runs of one dataset.")
    where_b = {(it.path, b.classes[it.label]): j for j, it in enumerate(b.items)}
    ia, ib = [], []
    for i, it in enumerate(a.items):
        j = where_b.get((it.path, a.classes[it.label]))
        if j is not None:
            ia.append(i)
            ib.append(j)
    if not ia:
        raise NotComparable("The two runs share no tested item (for example two different held-out splits of a "
                            "subset); compare runs that used cross-validation, or the same split.")
    return np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)


def compare(a: SweepResult, va: int, b: SweepResult, vb: int) -> PairedComparison:
    """Variant ``va`` of run A against variant ``vb`` of run B on their shared items."""
    ia, ib = shared_items(a, b)
    ca = a.correct(va)[ia]
    cb = b.correct(vb)[ib]
    n = len(ia)
    p, only_a, only_b = mcnemar_exact(ca, cb)
    return PairedComparison(a.variants[va].name, b.variants[vb].name, n, float(ca.mean()), float(cb.mean()),
                            wilson_interval(int(ca.sum()), n), wilson_interval(int(cb.sum()), n), p, only_a, only_b)


def compare_table(a: SweepResult, b: SweepResult) -> list[PairedComparison]:
    """The references against each other, then every variant name both runs have, in A's order."""
    names_b = {v.name: j for j, v in enumerate(b.variants)}
    rows = [compare(a, 0, b, 0)]
    for i, v in enumerate(a.variants):
        j = names_b.get(v.name)
        if j is not None and not (i == 0 and j == 0):
            rows.append(compare(a, i, b, j))
    return rows
