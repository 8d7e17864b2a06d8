"""Label and content findings on the network's features: cleanlab's Datalab and a train/test leak search.

Pooled penultimate features come from the sweep's feature cache (``core.evaluate.features.extract``) under
the reference variant. Out-of-fold class probabilities come from the sweep's linear probe
(``core.evaluate.methods.fit_probe``) on stratified K-fold from ``core.evaluate.folds.make_evaluation``
(groups ignored: see ``out_of_fold_probs``), so every item gets a probability it was not trained on.
cleanlab's ``Datalab`` (pinned) then finds label issues, outliers, near duplicates and class imbalance on them.
Its non-iid check is not run: prepscope orders items by class and file name, so any order test would only
rediscover that.

Near-duplicate leakage by features: a test item whose feature vector has cosine similarity of at least
``LEAK_COSINE`` with a training item's, besides byte-identical copies and (images) perceptual-hash copies
(``core.check.files.near_copies``). Pooled features alone are not enough: on hymenoptera a 0.6x, JPEG-60 copy
of a photo has cosine 0.76-0.91 with its original while the closest distinct photos reach 0.84; on FSDD a copy
resampled to 16 kHz with faint noise has 0.67-0.80 while distinct clips' nearest neighbours reach 0.97.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np

from core.check.files import ref
from core.check.report import Finding
from core.evaluate.datasets import Dataset
from core.evaluate.folds import make_evaluation
from core.evaluate.methods.probe import fit_probe

#: Cosine similarity of pooled features from which two items count as the same picture or sound.
LEAK_COSINE = 0.99
MAX_FOLDS = 5
ISSUE_TYPES = ("label", "outlier", "near_duplicate", "class_imbalance")
#: Below this out-of-fold probe accuracy, label issues are said to be mostly the probe's own errors.
WEAK_PROBE = 0.75
#: Datalab's neighbour graph needs more items than its k (10).
MIN_ITEMS = 12


def out_of_fold_probs(train: Dataset, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Probe probabilities (N, classes) for every item from a fold that did not train on it, and the folds used
    (with the probe's out-of-fold accuracy).

    Stratified K-fold, ignoring groups (``make_evaluation(..., group_split=False)``): a grouped split measures how
    the probe generalizes to a new speaker or subject, and cleanlab would read every cross-group error as label
    noise (on FSDD, leave one speaker out gives the probe 42% and flags 1,290 of 2,500 items; stratified folds give
    91% and flag 83)."""
    k = min(MAX_FOLDS, min(train.counts().values()))
    ev = make_evaluation(train, None, cv=k, seed=seed, group_split=False)
    y = train.labels
    probs = np.zeros((len(train), len(train.classes)), dtype=np.float64)
    for f in ev.folds:
        clf = fit_probe(x[f.train_idx], y[f.train_idx], seed)
        p = clf.predict_proba(np.asarray(x[f.test_idx], dtype=np.float64))
        probs[np.ix_(f.test_idx, np.asarray(clf.classes_, dtype=np.int64))] = p
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    return probs, {"kind": ev.kind, "n_folds": len(ev.folds), "notes": ev.notes, "probe_accuracy": accuracy}


def datalab_findings(train: Dataset, facts: list[dict], x: np.ndarray, probs: np.ndarray,
                     notes: list[str] | None = None) -> list[Finding]:
    """Label issues, outliers, near duplicates and class imbalance from cleanlab's Datalab; ``facts`` are the
    train items' facts in the order of ``x``; an issue type cleanlab could not compute is said in ``notes``."""
    notes = notes if notes is not None else []
    from cleanlab import Datalab

    logging.getLogger("cleanlab").setLevel(logging.ERROR)
    y = train.labels
    lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():  # it prints a failed issue type
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")  # cleanlab 2.9 on pandas 3
        # a fresh dict each time: Datalab stores its state in the issue types' argument dicts
        lab.find_issues(features=np.asarray(x, dtype=np.float32), pred_probs=probs,
                        issue_types={k: {} for k in ISSUE_TYPES})
    issues = lab.get_issues()
    for line in printed.getvalue().splitlines():
        if line.startswith("Error in"):
            notes.append(f"cleanlab: {line}")
    classes = train.classes
    out: list[Finding] = []
    n = len(y)
    if "is_label_issue" in issues:
        idx = np.flatnonzero(issues["is_label_issue"].to_numpy())
        if len(idx):
            pred = probs.argmax(axis=1)
            items = sorted((ref(facts[i], suggested=classes[int(pred[i])],
                                label_score=round(float(issues["label_score"].iloc[i]), 4)) for i in idx),
                           key=lambda d: d["label_score"])
            accuracy = float(np.mean(probs.argmax(axis=1) == y))
            weak = accuracy < WEAK_PROBE
            caveat = (f" The probe's out-of-fold accuracy is only {accuracy:.2f}: many of these are its errors, not "
                      "label errors." if weak else "")
            out.append(Finding("label", "low" if weak else "high" if len(idx) > 0.05 * n else "medium", len(idx),
                               f"{len(idx)} of {n} items look mislabelled: the cross-validated probe gives their "
                               "class a low probability and another class a high one (cleanlab)." + caveat, items,
                               {"probe_accuracy": accuracy}))
    if "is_outlier_issue" in issues:
        idx = np.flatnonzero(issues["is_outlier_issue"].to_numpy())
        if len(idx):
            items = sorted((ref(facts[i], outlier_score=round(float(issues["outlier_score"].iloc[i]), 4))
                            for i in idx), key=lambda d: d["outlier_score"])
            out.append(Finding("outlier", "low", len(idx), f"{len(idx)} of {n} items lie far from the rest in the "
                               "network's feature space (cleanlab).", items))
    if "is_near_duplicate_issue" in issues:
        dups = lab.get_issues("near_duplicate")
        idx = np.flatnonzero(dups["is_near_duplicate_issue"].to_numpy())
        items = []
        for i in idx:
            others = [int(j) for j in dups["near_duplicate_sets"].iloc[i] if int(j) < i]
            if others:  # each set listed once: the later items, as copies of the earliest
                j = min(others)
                items.append(ref(facts[i], copy_of=facts[j]["path"], how="near (features)",
                                 near_duplicate_score=round(float(dups["near_duplicate_score"].iloc[i]), 4)))
        if items:
            out.append(Finding("duplicate", "medium", len(items), f"{len(items)} items are near-duplicates of "
                               "another item of the same split in the network's features (cleanlab).", items,
                               {"how": "near"}))
    if "is_class_imbalance_issue" in issues:
        idx = np.flatnonzero(issues["is_class_imbalance_issue"].to_numpy())
        if len(idx):
            counts = train.counts()
            out.append(Finding("imbalance", "medium", len(idx), "The smallest class is rare: items per class "
                               + ", ".join(f"{c} {k}" for c, k in counts.items()) + " (cleanlab).",
                               [ref(facts[i]) for i in idx], {"counts": counts}))
    return out


def leak_finding(train_facts: list[dict], test_facts: list[dict], x_train: np.ndarray, x_test: np.ndarray
                 ) -> tuple[Finding | None, dict]:
    """Test items whose features are at least ``LEAK_COSINE`` similar to a training item's (besides exact
    copies, which ``files.exact_duplicates`` reports), and the distribution of nearest similarities."""
    a = np.asarray(x_train, dtype=np.float64)
    b = np.asarray(x_test, dtype=np.float64)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    best = np.zeros(len(b))
    nearest = np.zeros(len(b), dtype=np.int64)
    for s in range(0, len(b), 512):
        sim = b[s:s + 512] @ a.T
        nearest[s:s + 512] = sim.argmax(axis=1)
        best[s:s + 512] = sim.max(axis=1)
    stats = {"threshold": LEAK_COSINE, "median_nearest": float(np.median(best)) if len(best) else None}
    items = []
    for i in np.flatnonzero(best >= LEAK_COSINE):
        t, tr = test_facts[i], train_facts[int(nearest[i])]
        if t.get("sha256") and t.get("sha256") == tr.get("sha256"):
            continue
        items.append(ref(t, copy_of=tr["path"], how="near (features)", cosine=round(float(best[i]), 4)))
    if not items:
        return None, stats
    return Finding("leakage", "high", len(items), f"{len(items)} test items are near-copies of training items "
                   f"(feature cosine >= {LEAK_COSINE}).", items, stats), stats
