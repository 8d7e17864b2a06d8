"""Model registry: pretrained EfficientNet-Lite0 (offline) and random-init baselines."""

from core.models.registry import LoadedModel, Segment, imagenet_labels, load_model, model_names

__all__ = ["LoadedModel", "Segment", "imagenet_labels", "load_model", "model_names"]
