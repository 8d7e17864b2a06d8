"""``zeroshot``: no training; each class name is matched to the head's labels and predicted from the logits.

Each class name is matched to the labels of the network's own head (see ``match_imagenet``): ImageNet's for the
built-in models, a network card's own classes for a card (``core.models.networks``), so a fine-tuned model is
scored as it will be deployed. A prediction is the argmax of the logits restricted to the matched indices, mapped
back to the class that owns that index. Nothing is trained, so
the evaluation scores the given test set, or every item when none is given (``core.evaluate.folds``).
"""

from __future__ import annotations

import re

import numpy as np

from core.errors import InvalidDataset, on_surface
from core.evaluate.features import Features
from core.evaluate.folds import Fold
from core.evaluate.methods.base import Context
from core.evaluate.methods.frozen import FrozenMethod, Head

#: Extra spellings that name the same ImageNet class (WordNet synonyms of the synset), lower case.
#: Only true synonyms: a broad word (``cat``, ``car``) is not mapped to one of ImageNet's narrower classes.
SYNONYMS: dict[str, str] = {
    "emmet": "ant",
    "pismire": "ant",
    "honeybee": "bee",
    "honey bee": "bee",
    "apis mellifera": "bee",
}


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-]+", " ", s.strip().lower())


def _singular_forms(s: str) -> set[str]:
    """The name plus its plausible singulars (last word: -ies -> -y, -es -> '', -s -> '')."""
    forms = {s}
    head, _, last = s.rpartition(" ")
    prefix = f"{head} " if head else ""
    if last.endswith("ies") and len(last) > 3:
        forms.add(prefix + last[:-3] + "y")
    if last.endswith("es") and len(last) > 2:
        forms.add(prefix + last[:-2])
    if last.endswith("s") and not last.endswith("ss") and len(last) > 1:
        forms.add(prefix + last[:-1])
    return forms


def match_imagenet(classes: list[str], labels: list[str], head: str | None = None) -> dict[str, list[int]]:
    """Head indices for each class name; raises InvalidDataset when a class matches nothing. ``labels`` are the
    head's class names: ImageNet's, or those of the network card named ``head`` (the messages name it).

    Matching is on whole names, case-insensitive, with ``_``/``-``/spaces treated alike. An ImageNet
    entry may list comma-separated synonyms (``"ant, emmet, pismire"``); each synonym counts. A class
    matches an entry when any singular form of the class (``ants`` -> ``ant``, ``butterflies`` ->
    ``butterfly``, ``boxes`` -> ``box``) equals any singular form of a synonym, or when ``SYNONYMS``
    maps the class name (or its singular) to one. An index claimed by two classes is refused as ambiguous.
    """
    entries: list[set[str]] = []
    for lab in labels:
        forms: set[str] = set()
        for syn in lab.split(","):
            if syn.strip():
                forms |= _singular_forms(_norm(syn))
        entries.append(forms)
    matches: dict[str, list[int]] = {}
    for c in classes:
        name = _norm(c)
        wanted = _singular_forms(name)
        for form in list(wanted):
            if form in SYNONYMS:
                wanted |= _singular_forms(SYNONYMS[form])
        matches[c] = [i for i, forms in enumerate(entries) if wanted & forms]
    unmatched = [c for c, idx in matches.items() if not idx]
    if unmatched and head is not None:
        more = f" and {len(unmatched) - 8} more" if len(unmatched) > 8 else ""
        raise InvalidDataset(
            f"Zero-shot needs every dataset class to name one of {head}'s own classes "
            f"({', '.join(repr(lab) for lab in labels[:12])}{', ...' if len(labels) > 12 else ''}); no match for "
            f"{', '.join(repr(c) for c in unmatched[:8])}{more}: rename those class folders to the card's class "
            f"names or use " + on_surface("--method probe", "the method probe") + "."
        )
    if unmatched:
        raise InvalidDataset(
            f"Zero-shot needs every class to name an ImageNet class; no match for "
            f"{', '.join(repr(c) for c in unmatched[:8])}. Rename the class folders to ImageNet names "
            f"(e.g. 'ant', 'bee', 'tabby') or use " + on_surface("--method probe", "the method probe") + "."
        )
    owners: dict[int, str] = {}
    for c, idx in matches.items():
        for i in idx:
            if i in owners:
                where = f"{head}'s class" if head is not None else "the ImageNet class"
                raise InvalidDataset(
                    f"Classes {owners[i]!r} and {c!r} both match {where} {labels[i]!r}; "
                    f"zero-shot needs distinct classes."
                )
            owners[i] = c
    return matches


def zeroshot_predict(logits: np.ndarray, classes: list[str], matches: dict[str, list[int]]) -> np.ndarray:
    """Class index per row: argmax of the logits over the matched ImageNet indices only."""
    return zeroshot_predict_confidence(logits, classes, matches)[0]


def zeroshot_predict_confidence(logits: np.ndarray, classes: list[str], matches: dict[str, list[int]]
                                ) -> tuple[np.ndarray, np.ndarray]:
    """(class indices, confidence): the argmax of the logits over the matched ImageNet indices, and the
    predicted class's share of the softmax over those indices (summed over its matched indices)."""
    cols: list[int] = []
    owner: list[int] = []
    for ci, c in enumerate(classes):
        for i in matches[c]:
            cols.append(i)
            owner.append(ci)
    restricted = np.asarray(logits, dtype=np.float64)[:, cols]
    owner_arr = np.asarray(owner, dtype=np.int64)
    pred = owner_arr[np.argmax(restricted, axis=1)]
    z = np.exp(restricted - restricted.max(axis=1, keepdims=True))
    z /= z.sum(axis=1, keepdims=True)
    conf = np.array([z[r, owner_arr == pred[r]].sum() for r in range(len(pred))], dtype=np.float32)
    return pred, conf


class Zeroshot(FrozenMethod):
    name = "zeroshot"

    def check(self, classes: list[str], model) -> None:
        match_imagenet(classes, model.labels, model.head_name)

    def head(self, ctx: Context) -> Head:
        classes = ctx.ev.test.classes
        matches = match_imagenet(classes, ctx.model.labels, ctx.model.head_name)

        def predict(tr: Features, te: Features, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
            return zeroshot_predict_confidence(te.logits[fold.test_idx], classes, matches)

        return predict

    def describe(self, classes: list[str], model) -> dict:
        matches = match_imagenet(classes, model.labels, model.head_name)
        return {"imagenet_matches": {c: [model.labels[i] for i in idx] for c, idx in matches.items()},
                "rule": f"argmax of the {'ImageNet' if model.head_name is None else model.head_name + ' head'} logits "
                        "restricted to the matched classes"}


METHOD = Zeroshot()
