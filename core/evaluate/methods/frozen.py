"""What the frozen-feature methods share (``probe``, ``zeroshot``): one cached extraction, then a head per fold.

Pooled features and logits of every variant come from one streamed, disk-cached pass per dataset
(``core.evaluate.features.extract``; K folds reuse it). A frozen method only says how one fold's test items are
predicted from features (``FrozenMethod.head``); variants with bit-identical features are scored once.
BatchNorm re-estimation (``core.evaluate.methods.adabn``) wraps the same head around adapted features.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.evaluate.datasets import Dataset
from core.evaluate.features import Features, extract
from core.evaluate.folds import Evaluation, Fold
from core.evaluate.methods.base import Context, Report, pool_over_folds, span
from core.evaluate.sameinput import feature_fingerprint
from core.evaluate.scoring import Predictions
from core.preprocess.variant import Variant

#: A frozen method's head for one sweep: (training-side features, test-side features, fold) -> (classes, confidence).
Head = Callable[[Features, Features, Fold], tuple[np.ndarray, np.ndarray]]


def datasets_of(ev: Evaluation) -> list[tuple[Dataset, str]]:
    """The datasets whose features a frozen method reads, with their roles (``data`` when train is test)."""
    if ev.test is ev.train:
        return [(ev.train, "data")]
    out = [(ev.test, "test")]
    if any(len(f.train_idx) for f in ev.folds):
        out.insert(0, (ev.train, "train"))
    return out


@dataclass
class _FrozenRun:
    head: Head
    tr: Features
    te: Features
    key: str

    def fold(self, k: int, fold: Fold, report: Report) -> tuple[np.ndarray, np.ndarray, dict]:
        return (*self.head(self.tr, self.te, fold), {})

    def finish(self, predicted: np.ndarray, confidence: np.ndarray, infos: list[dict], seconds: float
               ) -> Predictions:
        return Predictions(predicted, confidence, self.te.seconds + (self.tr.seconds if self.tr is not self.te else 0.0)
                           + seconds, self.te.cached and self.tr.cached, self.key, {})


class FrozenMethod(ABC):
    """Base of the methods that score frozen features; subclasses give ``name``, ``head`` and
    ``describe``."""

    name = ""
    compared_with: str | None = None
    fixed_batch: int | None = None
    extracts_features = True

    def check(self, classes: list[str], model) -> None:
        return None

    @abstractmethod
    def head(self, ctx: Context) -> Head:
        """The per-fold fit-and-predict function this method applies to the frozen features."""

    def predict(self, ctx: Context, variants: Sequence[Variant]) -> list[Predictions]:
        ev = ctx.ev
        sets = datasets_of(ev)
        feats: dict[str, dict] = {}
        share = 0.9 / len(sets)
        for k, (ds, role) in enumerate(sets):
            feats[role] = extract(ds, list(variants), ctx.model, ctx.cache, batch_size=ctx.batch_size,
                                  progress=ctx.report, should_stop=ctx.should_stop,
                                  progress_span=(k * share, (k + 1) * share), profile=ctx.times, engine=ctx.engine)
        tr_role = "data" if "data" in feats else "train"
        te_role = "data" if "data" in feats else "test"
        pairs = []
        for v in variants:
            te = feats[te_role][v.spec_key()]
            pairs.append((feats[tr_role][v.spec_key()] if tr_role in feats else te, te))
        keys = [feature_fingerprint(*(feats[role][v.spec_key()].pooled for _, role in sets)) for v in variants]
        head = self.head(ctx)

        def start(i: int, v: Variant, report: Report) -> _FrozenRun:
            return _FrozenRun(head, *pairs[i], keys[i])

        def repeat(i: int, v: Variant, first: Predictions) -> Predictions:
            tr, te = pairs[i]
            return Predictions(first.predicted, first.confidence, te.seconds + (tr.seconds if tr is not te else 0.0),
                               te.cached and tr.cached, keys[i], {"same_features_as_earlier_variant": True})

        return pool_over_folds(ev, variants, keys, start, repeat, span(ctx.report, 0.9, 1.0))
