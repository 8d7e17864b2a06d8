"""``probe``: a linear probe on the frozen pooled penultimate features.

Features are standardized (scikit-learn StandardScaler, fitted on the training side) and a multinomial
LogisticRegression with fixed ``C = PROBE_C`` (lbfgs, up to ``PROBE_MAX_ITER`` iterations) is fitted on each
fold's training side; no tuning, so every variant gets exactly the same classifier. ``head_from_probe`` folds a
fitted probe into one linear layer (the adapter and fine-tuning start from it).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from core.errors import InvalidDataset
from core.evaluate.features import Features
from core.evaluate.folds import Fold
from core.evaluate.methods.base import Context
from core.evaluate.methods.frozen import FrozenMethod, Head

PROBE_C = 1.0
PROBE_MAX_ITER = 2000


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, seed: int = 0):
    """A fitted scikit-learn pipeline: StandardScaler then LogisticRegression(C=PROBE_C)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:
        raise InvalidDataset("The training side holds a single class; a probe needs at least two.")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=PROBE_C, max_iter=PROBE_MAX_ITER, random_state=seed))
    # One BLAS thread: these problems are small, and multi-threaded BLAS beside torch's own thread pool
    # is an order of magnitude slower on a busy machine.
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.asarray(x_train, dtype=np.float64), y_train)
    return clf


def probe_predict_confidence(clf, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class indices, confidence) from a fitted probe: the most probable class and its probability
    (``predict_proba``; single-threaded BLAS, see ``fit_probe``)."""
    with threadpool_limits(1):
        proba = clf.predict_proba(np.asarray(x, dtype=np.float64))
    k = np.argmax(proba, axis=1)
    return np.asarray(clf.classes_, dtype=np.int64)[k], proba[np.arange(len(k)), k].astype(np.float32)


def probe_description() -> str:
    return f"StandardScaler + LogisticRegression(C={PROBE_C}, lbfgs, max_iter={PROBE_MAX_ITER}) on pooled features"


def head_from_probe(head, clf, n_classes: int) -> None:
    """Set a ``torch.nn.Linear`` head to a fitted probe (StandardScaler + LogisticRegression folded into one
    layer); classes the probe never saw get a bias of -1e4."""
    scaler, lr = clf[0], clf[-1]
    coef = lr.coef_ / scaler.scale_[None, :]
    bias = lr.intercept_ - (lr.coef_ * (scaler.mean_ / scaler.scale_)[None, :]).sum(axis=1)
    if coef.shape[0] == 1:  # binary: scikit-learn keeps one row for class 1
        coef = np.vstack([-coef / 2, coef / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    full_w = np.zeros((n_classes, coef.shape[1]))
    full_b = np.full(n_classes, -1e4)
    full_w[lr.classes_] = coef
    full_b[lr.classes_] = bias
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(full_w).float())
        head.bias.copy_(torch.from_numpy(full_b).float())


class Probe(FrozenMethod):
    name = "probe"

    def head(self, ctx: Context) -> Head:
        y_train, seed = ctx.ev.train.labels, ctx.seed

        def fit_and_predict(tr: Features, te: Features, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
            clf = fit_probe(tr.pooled[fold.train_idx], y_train[fold.train_idx], seed)
            return probe_predict_confidence(clf, te.pooled[fold.test_idx])

        return fit_and_predict

    def describe(self, classes: list[str], model) -> dict:
        return {"classifier": probe_description()}


METHOD = Probe()
