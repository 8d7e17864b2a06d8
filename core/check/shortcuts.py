"""Shortcuts: does file metadata alone predict the label?

A small cross-validated classifier (scikit-learn's ``DecisionTreeClassifier``, depth 3, stratified K-fold) is
trained on each metadata field alone and on all of them together: format, mode, bit depth, width, height,
aspect, file size, JPEG quality estimate (images); format, subtype, sample rate, channels, duration, file size
(sounds). Its balanced accuracy is compared with chance (1 / classes). A field whose own balanced accuracy is
at least halfway from chance to perfect is a ``shortcut``: the page says which field, and what each class
mostly has in it ("bees: PNG 100%; ants: JPEG 100%"). Only headers are used: nothing is decoded for it.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
from threadpoolctl import threadpool_limits

from core.check.files import ref
from core.check.report import Finding

IMAGE_FIELDS = ("format", "mode", "bit_depth", "width", "height", "aspect", "bytes", "jpeg_quality")
SOUND_FIELDS = ("format", "subtype", "sample_rate", "channels", "duration_s", "bytes")
CATEGORICAL = {"format", "mode", "subtype"}
#: A field is a shortcut when its balanced accuracy reaches chance + this share of the way to 1.
HALFWAY = 0.5
MIN_PER_CLASS = 3


def _column(facts: list[dict], name: str) -> np.ndarray:
    if name == "aspect":
        return np.array([f["width"] / f["height"] if f.get("height") else np.nan for f in facts], dtype=np.float64)
    if name in CATEGORICAL:
        values = [str(f.get(name)) for f in facts]
        codes = {v: i for i, v in enumerate(sorted(set(values)))}
        return np.array([codes[v] for v in values], dtype=np.float64)
    return np.array([np.nan if f.get(name) is None else float(f[name]) for f in facts], dtype=np.float64)


def _cv_score(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier

    clf = DecisionTreeClassifier(max_depth=3, min_samples_leaf=2, random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = cross_val_predict(clf, x, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls))


def describe_field(facts: list[dict], name: str, classes: list[str]) -> str:
    """What each class mostly has in the field: ``bees: PNG 100%; ants: JPEG 100%`` (medians for numbers)."""
    parts = []
    for c in classes:
        vals = [f.get(name) if name != "aspect" else f["width"] / f["height"] for f in facts if f["label"] == c]
        vals = [v for v in vals if v is not None]
        if not vals:
            continue
        if name in CATEGORICAL or name in ("bit_depth", "channels", "sample_rate"):
            v, n = Counter(map(str, vals)).most_common(1)[0]
            parts.append(f"{c}: {v} {100 * n / len(vals):.0f}%")
        else:
            parts.append(f"{c}: median {np.median(vals):.4g}")
    return "; ".join(parts)


def shortcut_finding(facts: list[dict], kind: str, seed: int = 0) -> tuple[Finding | None, dict]:
    """The ``shortcut`` finding (or None) and every field's cross-validated balanced accuracy."""
    ok = [f for f in facts if f["readable"] and f["split"] == "train" and "header_error" not in f]
    fields = [n for n in (SOUND_FIELDS if kind == "audio" else IMAGE_FIELDS)
              if any(f.get(n) is not None for f in ok) or n == "aspect" and ok and "width" in ok[0]]
    labels = sorted({f["label"] for f in ok})
    counts = Counter(f["label"] for f in ok)
    if len(labels) < 2 or min(counts.values()) < MIN_PER_CLASS or not fields:
        return None, {"skipped": f"needs at least {MIN_PER_CLASS} readable items per class"}
    y = np.array([labels.index(f["label"]) for f in ok])
    k = min(5, min(counts.values()))
    cols = {n: _column(ok, n) for n in fields}
    chance = 1.0 / len(labels)
    scores = {n: _cv_score(c[:, None], y, k, seed) for n, c in cols.items() if np.unique(c[~np.isnan(c)]).size > 1}
    every = _cv_score(np.stack(list(cols.values()), axis=1), y, k, seed) if scores else chance
    table = {"chance": chance, "all_fields": every, "fields": scores, "folds": k}
    bar = chance + HALFWAY * (1 - chance)
    strong = sorted((n for n, s in scores.items() if s >= bar), key=lambda n: -scores[n])
    if not strong:
        return None, table
    best = strong[0]
    sentence = describe_field(ok, best, labels)
    severity = "high" if scores[best] >= 0.95 else "medium"
    items = [ref(f, **{best: f.get(best) if best != "aspect" else round(f["width"] / f["height"], 3)}) for f in ok]
    return Finding("shortcut", severity, len(ok),
                   f"The field '{best}' alone predicts the class with balanced accuracy {scores[best]:.2f} (chance "
                   f"{chance:.2f}, {k}-fold): {sentence}."
                   + (f" Also: {', '.join(f'{n} {scores[n]:.2f}' for n in strong[1:])}." if len(strong) > 1 else ""),
                   items, table), table
