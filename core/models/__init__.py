"""Model registry: metadata per model (listed without building), offline pretrained weights, feature API.

The metadata (``MODELS``, ``ModelSpec``, ``DataConfig``, ``DEFAULT_MODEL``, ``imagenet_labels``: ``core.models.specs``,
the leaf; ``model_names``, ``model_spec``: ``core.models.catalog``, built-ins then network cards) imports no torch;
the rest (``load_model``, ``LoadedModel``, ``Layer``, ``bn_inputs``) is imported from ``core.models.registry`` on
first use, so listing models (the dashboard's shell and sidebar) never waits for torch. Floors inside:
``specs`` <- ``networks`` <- ``catalog`` <- ``registry`` <- ``install`` (adding a card).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from core.models.catalog import model_names, model_spec
from core.models.specs import DEFAULT_MODEL, MODELS, DataConfig, ModelSpec, imagenet_labels

if TYPE_CHECKING:
    from core.models.registry import Layer, LoadedModel, bn_inputs, load_model

_HEAVY = ("Layer", "LoadedModel", "bn_inputs", "load_model")


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        return getattr(importlib.import_module("core.models.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_MODEL", "MODELS", "DataConfig", "Layer", "LoadedModel", "ModelSpec", "bn_inputs",
           "imagenet_labels", "load_model", "model_names", "model_spec"]
