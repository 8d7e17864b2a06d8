"""Model registry: metadata per model (listed without building), offline pretrained weights, feature API."""

from core.models.registry import (
    DEFAULT_MODEL,
    MODELS,
    DataConfig,
    Layer,
    LoadedModel,
    ModelSpec,
    bn_inputs,
    imagenet_labels,
    load_model,
    model_names,
    model_spec,
)

__all__ = ["DEFAULT_MODEL", "MODELS", "DataConfig", "Layer", "LoadedModel", "ModelSpec", "bn_inputs",
           "imagenet_labels", "load_model", "model_names", "model_spec"]
