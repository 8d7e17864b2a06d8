"""Which items are tested: one held-out split, or cross-validation where every item is tested exactly once.

An ``Evaluation`` is a list of ``Fold`` s (training and test indices) over a training dataset and a
test dataset (the same object unless a test set was given). A single split is an evaluation with one
fold. Cross-validation kinds, all seeded and from scikit-learn:

- ``stratified-kfold``: ``StratifiedKFold(K, shuffle=True)``: each class keeps its proportion per fold.
- ``grouped-kfold``: ``StratifiedGroupKFold(K, shuffle=True)``: every group (speaker, subject) is wholly
  in one fold, so no group is ever on both sides; classes as balanced as the groups allow.
- ``leave-one-group-out``: one fold per group, named after it (``LeaveOneGroupOut``).

``cv`` is ``"auto"`` (default), ``"none"`` (one split), ``"groups"`` (leave one group out) or an integer
K >= 2 (grouped K-fold when the items carry groups, else stratified K-fold). ``auto`` means leave one
group out when the items carry between 2 and ``MAX_AUTO_GROUPS`` groups, else one split; a given test set
and zero-shot (which trains nothing and scores every item once) always use one split. Features are
per item, so K folds reuse the one extraction of a single split: only the probe is fitted K times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import InvalidDataset, on_surface
from core.evaluate.datasets import Dataset
from core.evaluate.splits import Split, all_items, given_split, make_split

#: ``cv="auto"`` leaves one group out when the data has at most this many groups.
MAX_AUTO_GROUPS = 10
#: No evaluation has more folds than this (each fold fits a classifier per variant).
MAX_FOLDS = 50
CV_KINDS = ("stratified-kfold", "grouped-kfold", "leave-one-group-out")
CV_HELP = ("auto: leave one group out when the items carry 2-10 groups (e.g. speakers), else one held-out split; "
           "none: one held-out split; groups: leave one group out; K: K-fold cross-validation (grouped when "
           "the items carry groups)")


@dataclass(eq=False)
class Fold:
    """One fold: its name (a group's name for grouped folds), training and test indices."""

    name: str
    train_idx: np.ndarray
    test_idx: np.ndarray


@dataclass(eq=False)
class Evaluation:
    """The folds of an evaluation over ``train`` (indices of ``train_idx``) and ``test`` (of ``test_idx``)."""

    kind: str
    seed: int
    train: Dataset
    test: Dataset
    folds: list[Fold]
    test_fraction: float | None = None
    notes: list[str] = field(default_factory=list)
    #: Test items byte-identical to training items (a given test set only): the accuracy is then optimistic.
    overlap: int = 0

    @property
    def cross_validated(self) -> bool:
        return self.kind in CV_KINDS

    @property
    def test_idx(self) -> np.ndarray:
        """Every tested item once, in dataset order (for cross-validation: every item)."""
        return np.sort(np.concatenate([f.test_idx for f in self.folds])) if self.folds else np.zeros(0, np.int64)

    @property
    def n_test(self) -> int:
        return int(sum(len(f.test_idx) for f in self.folds))

    def fold_of_tested(self) -> np.ndarray:
        """For each entry of ``test_idx``, the index of the fold that tested it."""
        idx = self.test_idx
        out = np.empty(len(idx), dtype=np.int64)
        for k, f in enumerate(self.folds):
            out[np.searchsorted(idx, f.test_idx)] = k
        return out

    def describe(self) -> dict:
        """JSON-able description for provenance (``kind``, ``seed``, sizes, groups per side, folds, notes)."""
        def groups(ds: Dataset, idx: np.ndarray) -> list[str]:
            return sorted({ds.items[int(i)].group for i in idx} - {None})

        out = {"kind": self.kind, "seed": self.seed, "test_fraction": self.test_fraction,
               "n_folds": len(self.folds), "n_test": self.n_test, "overlap": self.overlap,
               "notes": list(self.notes),
               "folds": [{"name": f.name, "n_train": int(len(f.train_idx)), "n_test": int(len(f.test_idx)),
                          "test_groups": groups(self.test, f.test_idx)} for f in self.folds]}
        if not self.cross_validated and self.folds:
            f = self.folds[0]
            out.update({"n_train": int(len(f.train_idx)), "train_groups": groups(self.train, f.train_idx),
                        "test_groups": groups(self.test, f.test_idx)})
        return out


def overlap_warning(split: dict) -> str | None:
    """From ``Evaluation.describe()``: the sentence users see when test items repeat training items, else None."""
    if not split.get("overlap"):
        return None
    return (f"{split['overlap']} of {split['n_test']} test items are byte-identical to training items; "
            "the accuracy is optimistic.")


def describe_line(split: dict) -> str:
    """One phrase for a provenance line, from ``Evaluation.describe()`` (also read back from a stored run)."""
    if split["kind"] in CV_KINDS:
        what = {"leave-one-group-out": "one fold per group", "grouped-kfold": "groups never on both sides",
                "stratified-kfold": "stratified"}[split["kind"]]
        return (f"{split['kind']} seed {split['seed']}, {split['n_folds']} folds ({what}): each of "
                f"{split['n_test']} items tested once")
    train = split.get("n_train", 0)
    return f"split {split['kind']} seed {split['seed']} train {train} / test {split['n_test']}"


def normalize_cv(cv: str | int | None) -> str | int:
    """``"auto"``, ``"none"``, ``"groups"`` or an int K (2..MAX_FOLDS); InvalidDataset with a sentence otherwise."""
    if cv is None:
        return "auto"
    if isinstance(cv, str):
        text = cv.strip().lower()
        if text in ("auto", "none", "groups"):
            return text
        if text in ("0", "1"):
            return "none"
        try:
            cv = int(text)
        except ValueError:
            raise InvalidDataset(on_surface("--cv", "Test items")
                                 + f" takes a number of folds K, 'groups', 'none' or 'auto'; got {cv!r}.") from None
    if isinstance(cv, bool) or not isinstance(cv, int):
        raise InvalidDataset(on_surface("--cv", "Test items")
                                 + f" takes a number of folds K, 'groups', 'none' or 'auto'; got {cv!r}.")
    if cv in (0, 1):
        return "none"
    if not 2 <= cv <= MAX_FOLDS:
        raise InvalidDataset(f"The number of folds must be between 2 and {MAX_FOLDS}; got {cv}.")
    return cv


def _from_split(split: Split, name: str) -> Evaluation:
    return Evaluation(split.kind, split.seed, split.train, split.test, [Fold(name, split.train_idx, split.test_idx)],
                      split.test_fraction, list(split.notes), split.overlap)


def _group_array(ds: Dataset) -> np.ndarray:
    return np.array([g if g is not None else "" for g in ds.groups])


def _fold_name(groups: list[str], k: int) -> str:
    if len(groups) == 1:
        return groups[0]
    if 1 < len(groups) <= 3:
        return "+".join(groups)
    return f"fold {k + 1} ({len(groups)} groups)"


def make_evaluation(train: Dataset, test: Dataset | None = None, *, method: str = "probe",
                    cv: str | int | None = "auto", test_fraction: float = 0.2, seed: int = 0,
                    group_split: bool | None = None) -> Evaluation:
    """The folds the settings give (see the module docstring); refusals are InvalidDataset sentences.

    ``group_split`` None uses groups when the items carry them; False ignores them (stratified folds
    or split); True requires them.
    """
    cv = normalize_cv(cv)
    explicit = cv not in ("auto", "none")
    if method == "zeroshot":
        if explicit:
            raise InvalidDataset("Zero-shot trains nothing: every item is already scored once, so cross-validation "
                                 "does not apply; " + on_surface("drop --cv", "set Test items to automatic")
                                 + " (or choose probe or adapter).")
        if test is not None:
            split = given_split(train, test)
            split.train_idx = np.zeros(0, dtype=np.int64)
            return _from_split(split, "test set")
        return _from_split(all_items(train), "all items")
    if test is not None:
        if explicit:
            raise InvalidDataset("A given test set is scored whole; cross-validation needs a single dataset. "
                                 "Drop the separate test set or the cross-validation setting.")
        return _from_split(given_split(train, test), "test set")
    if group_split and not train.has_groups:
        raise InvalidDataset("A grouped split was requested but the items carry no groups (use a flat folder "
                             "named label_group_n, or " + on_surface("--label-pattern", "a Label pattern")
                                 + " with a 'group' field).")
    use_groups = train.has_groups and group_split is not False
    n_groups = len(set(train.groups)) if use_groups else 0
    if cv == "auto":
        cv = "groups" if use_groups and 2 <= n_groups <= MAX_AUTO_GROUPS else "none"
    if cv == "none":
        return _from_split(make_split(train, None, test_fraction=test_fraction, seed=seed, group_split=group_split),
                           "held-out")
    y = train.labels
    if cv == "groups":
        if not use_groups:
            raise InvalidDataset("Leave-one-group-out needs items that carry groups (a flat folder named "
                                 "label_group_n, or " + on_surface("--label-pattern", "a Label pattern")
                                 + " with a 'group' field); use " + on_surface("--cv K", "K-fold cross-validation")
                                 + " instead.")
        if n_groups > MAX_FOLDS:
            raise InvalidDataset(f"{n_groups} groups would make {n_groups} folds (at most {MAX_FOLDS}); "
                                 "use " + on_surface("--cv K", "K-fold cross-validation") + " for grouped K-fold.")
        from sklearn.model_selection import LeaveOneGroupOut

        groups = _group_array(train)
        splits = LeaveOneGroupOut().split(np.zeros(len(train)), y, groups)
        kind = "leave-one-group-out"
    elif use_groups:
        if cv > n_groups:
            raise InvalidDataset(f"Grouped {cv}-fold needs at least {cv} groups; the items carry {n_groups}. "
                                 f"Choose K <= {n_groups} or leave one group out.")
        from sklearn.model_selection import StratifiedGroupKFold

        groups = _group_array(train)
        splits = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed).split(np.zeros(len(train)), y,
                                                                                         groups)
        kind = "grouped-kfold"
    else:
        counts = train.counts()
        small = {c: n for c, n in counts.items() if n < cv}
        if small:
            c, n = min(small.items(), key=lambda kv: kv[1])
            raise InvalidDataset(f"{cv}-fold cross-validation needs at least {cv} items per class; class {c!r} "
                                 f"has {n}. Choose fewer folds or add items.")
        from sklearn.model_selection import StratifiedKFold

        splits = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed).split(np.zeros(len(train)), y)
        kind = "stratified-kfold"
    folds = []
    for k, (tr, te) in enumerate(splits):
        tr, te = np.sort(tr), np.sort(te)
        if kind == "stratified-kfold":
            name = f"fold {k + 1}"
        else:
            name = _fold_name(sorted({train.items[int(i)].group for i in te}), k)
        folds.append(Fold(name, tr, te))
    if kind == "leave-one-group-out":
        folds.sort(key=lambda f: f.name)
    ev = Evaluation(kind, seed, train, train, folds, None)
    for f in folds:
        present = set(np.unique(y[f.train_idx]).tolist())
        if len(present) < 2:
            raise InvalidDataset(f"Fold {f.name!r} leaves a single class on its training side; a classifier needs "
                                 "two. Use fewer, larger folds or more groups.")
        missing = [train.classes[c] for c in range(len(train.classes)) if c not in present]
        if missing:
            ev.notes.append(f"fold {f.name}: the training side has no items of class(es) {', '.join(missing[:5])}, "
                            "so they cannot be predicted there")
    return ev
