"""Evaluation methods: how a variant is scored on a sweep's folds. One file per method, one line each below.

Every method has the shape of ``core.evaluate.methods.base.Method``: ``predict(ctx, variants)`` returns one
``core.evaluate.scoring.Predictions`` per variant (a class and a confidence for every tested item, pooled over
folds by ``base.pool_over_folds``). ``--adapt bn`` wraps a frozen-feature method (``adabn.BatchNormAdaptation``).

Adding a method: write ``core/evaluate/methods/NAME.py`` with a class following ``Method`` and ``METHOD = ...``
at its end, and add one line (module, help) to ``REGISTRY``; the CLI's ``--method``, the Accuracy page, the runs
database and every table pick it up. (Modules are imported on first use, so listing the names imports no torch.)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.evaluate.methods.base import Method

#: ``--method`` word -> (the module whose ``METHOD`` implements it, its one line for ``--method``'s help), in the
#: order the CLI and the page list them.
REGISTRY: dict[str, tuple[str, str]] = {
    "probe": ("core.evaluate.methods.probe", "logistic regression on frozen features"),
    "adapter": ("core.evaluate.methods.adapter", "learned 1x1 conv for one-channel input"),
    "zeroshot": ("core.evaluate.methods.zeroshot", "the head's own classes named like the folders"),
    "finetune": ("core.evaluate.methods.finetune", "stem + BatchNorm + head trained with early stopping per fold, "
                                                   "compared with probe"),
}


def method_names() -> tuple[str, ...]:
    """The registered methods' names, in registry order."""
    return tuple(REGISTRY)


METHODS = method_names()


def get_method(name: str) -> Method:
    """The registered method called ``name`` (KeyError for an unknown name: callers refuse it first)."""
    return import_module(REGISTRY[name][0]).METHOD


def method_help() -> str:
    """``--method``'s help: each method's name and its one line."""
    return "; ".join(f"{n}: {line}" for n, (_, line) in REGISTRY.items())
