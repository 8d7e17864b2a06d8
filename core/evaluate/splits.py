"""Train/test splits: a given test set, a stratified split, or a grouped split (no group on both sides).

Every split is seeded and described (kind, seed, test fraction, sizes, groups per side) so results
can say exactly which items were scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import InvalidDataset, on_surface
from core.evaluate.datasets import Dataset, check_same_classes


@dataclass(eq=False)
class Split:
    """Indices into ``train`` and ``test`` datasets (the same object unless a test set was given)."""

    kind: str
    seed: int
    test_fraction: float | None
    train: Dataset
    test: Dataset
    train_idx: np.ndarray
    test_idx: np.ndarray
    notes: list[str] = field(default_factory=list)
    #: Test items byte-identical to training items (a given test set only): the accuracy is then optimistic.
    overlap: int = 0

    def overlap_warning(self) -> str | None:
        """The sentence users see when test items repeat training items, else None."""
        if not self.overlap:
            return None
        return (f"{self.overlap} of {len(self.test_idx)} test items are byte-identical to training items; "
                "the accuracy is optimistic.")

    def describe(self) -> dict:
        """JSON-able description for provenance."""
        tg = {self.train.items[i].group for i in self.train_idx} - {None}
        sg = {self.test.items[i].group for i in self.test_idx} - {None}
        return {"kind": self.kind, "seed": self.seed, "test_fraction": self.test_fraction,
                "n_train": int(len(self.train_idx)), "n_test": int(len(self.test_idx)),
                "train_groups": sorted(tg), "test_groups": sorted(sg), "overlap": self.overlap,
                "notes": list(self.notes) + ([w] if (w := self.overlap_warning()) else [])}


def _check_classes(ds: Dataset, idx: np.ndarray, side: str) -> None:
    present = set(np.unique(ds.labels[idx]).tolist())
    missing = [ds.classes[c] for c in range(len(ds.classes)) if c not in present]
    if missing:
        raise InvalidDataset(
            f"The {side} side of the split has no items of class(es) {', '.join(missing[:5])}; "
            f"add items, change the test fraction or the seed."
        )


def stratified_split(ds: Dataset, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Seeded stratified split: each class keeps its proportion on both sides (scikit-learn)."""
    from sklearn.model_selection import train_test_split

    _check_fraction(test_fraction)
    counts = ds.counts()
    small = [c for c, n in counts.items() if n < 2]
    if small:
        raise InvalidDataset(
            f"Class(es) {', '.join(small[:5])} have fewer than two items; a split needs two per class."
        )
    idx = np.arange(len(ds))
    n_test = max(len(ds.classes), int(round(test_fraction * len(ds))))
    if len(ds) - n_test < len(ds.classes):
        raise InvalidDataset(f"{len(ds)} items are too few to split {len(ds.classes)} classes into train and test.")
    tr, te = train_test_split(idx, test_size=n_test, stratify=ds.labels, random_state=seed)
    return Split("stratified", seed, test_fraction, ds, ds, np.sort(tr), np.sort(te))


def grouped_split(ds: Dataset, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Seeded split where every group (speaker, subject) is wholly on one side.

    Uses scikit-learn's StratifiedGroupKFold with ``round(1 / test_fraction)`` folds (at most the
    number of groups) and takes one fold as the test side, so classes stay as balanced as the
    groups allow.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    _check_fraction(test_fraction)
    groups = np.array([g if g is not None else "" for g in ds.groups])
    n_groups = len(set(groups.tolist()))
    if any(g is None for g in ds.groups) or n_groups < 2:
        raise InvalidDataset("A grouped split needs a group for every item and at least two groups.")
    k = min(n_groups, max(2, int(round(1 / test_fraction))))
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    tr, te = next(folds.split(np.zeros(len(ds)), ds.labels, groups))
    split = Split("grouped", seed, test_fraction, ds, ds, np.sort(tr), np.sort(te))
    if k != int(round(1 / test_fraction)):
        split.notes.append(f"{n_groups} groups: one of {k} folds is the test side")
    _check_classes(ds, split.train_idx, "training")
    return split


def given_split(train: Dataset, test: Dataset) -> Split:
    """Use a given test set whole, and the training set whole. Test files byte-identical to training
    files (by the content hash each item got when its dataset was scanned) are counted in ``overlap``."""
    if train.classes != test.classes:
        check_same_classes(train, test)
    train_digests = {it.sha256 for it in train.items if it.sha256}
    shared = sum(1 for it in test.items if it.sha256 and it.sha256 in train_digests)
    return Split("given", 0, None, train, test, np.arange(len(train)), np.arange(len(test)), overlap=shared)


def all_items(ds: Dataset) -> Split:
    """No training: every item is scored (zero-shot)."""
    idx = np.arange(len(ds))
    return Split("all", 0, None, ds, ds, np.zeros(0, dtype=np.int64), idx, ["no training: every item is scored"])


def make_split(train: Dataset, test: Dataset | None = None, *, test_fraction: float = 0.2, seed: int = 0,
               group_split: bool | None = None) -> Split:
    """Choose the split: the given test set, else grouped when groups exist (``group_split`` None = auto)
    or requested, else stratified."""
    if test is not None:
        return given_split(train, test)
    use_groups = train.has_groups if group_split is None else group_split
    if use_groups and not train.has_groups:
        raise InvalidDataset("A grouped split was requested but the items carry no groups (use a flat folder "
                             "named label_group_n, or " + on_surface("--label-pattern", "a Label pattern")
                             + " with a 'group' field).")
    return grouped_split(train, test_fraction, seed) if use_groups else stratified_split(train, test_fraction, seed)


def _check_fraction(f: float) -> None:
    if not 0.0 < f < 1.0:
        raise InvalidDataset(f"The test fraction must be between 0 and 1 (exclusive); got {f}.")
