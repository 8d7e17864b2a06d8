"""Model registry: metadata per model (listed without building), offline pretrained weights, feature API.

The metadata (``MODELS``, ``ModelSpec``, ``DataConfig``, ``DEFAULT_MODEL``, ``model_names``, ``model_spec``) comes
from ``core.models.specs`` and imports no torch; the rest (``load_model``, ``LoadedModel``, ``Layer``,
``bn_inputs``, ``imagenet_labels``) is imported from ``core.models.registry`` on first use, so listing models
(the dashboard's shell and sidebar) never waits for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from core.models.specs import DEFAULT_MODEL, MODELS, DataConfig, ModelSpec, model_names, model_spec

if TYPE_CHECKING:
    from core.models.registry import Layer, LoadedModel, bn_inputs, imagenet_labels, load_model

_HEAVY = ("Layer", "LoadedModel", "bn_inputs", "imagenet_labels", "load_model")


def __getattr__(name: str) -> Any:
    if name in _HEAVY:
        return getattr(importlib.import_module("core.models.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_MODEL", "MODELS", "DataConfig", "Layer", "LoadedModel", "ModelSpec", "bn_inputs",
           "imagenet_labels", "load_model", "model_names", "model_spec"]
