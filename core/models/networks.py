"""Your own network: a card naming a timm (or torchvision) architecture, your checkpoint and your classes.

A card (``NetworkCard``, pydantic, stored as ``NAME.json``; a hand-written ``NAME.toml`` is read too) lives
with its checkpoint (``NAME.safetensors``, ``.pt`` or ``.pth``, copied in when the card is added) in the
networks folder: ``$PREPSCOPE_NETWORKS_DIR``, else ``$PREPSCOPE_HOME/networks``. Cards are listed beside the
built-in models (``core.models.catalog``), so
``--model NAME`` and the dashboard's model picker take them, and every view reads a card's network through
the same ``LoadedModel`` as a built-in one.

Loading is offline and safe: ``timm.create_model(..., pretrained=False)`` (never a hub), the checkpoint read by
timm's own ``load_state_dict`` (safetensors, or ``torch.load(weights_only=True)``; EMA weights and ``module.`` /
``_orig_mod.`` prefixes handled there), its SHA-256 compared with the card's first. Every refusal is one
sentence naming what to fix: an unknown architecture, a pickle, a checkpoint that does not fit the
architecture, a classes list whose length differs from the head's outputs, a tampered checkpoint, a card or
checkpoint outside the folder.

Listing (``card_names``, ``card_spec``) imports no torch, so the dashboard's sidebar stays light; adding a card
(``add_network``, checked by one forward through the registry) is ``core.models.install``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import UnknownModel
from core.models.specs import IMAGENET_MEAN, IMAGENET_STD, DataConfig, ModelSpec
from core.paths import prepscope_home

if TYPE_CHECKING:
    import torch
    from torch import nn

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
#: Larger checkpoints are refused before reading (a ViT-B/16 is about 350 MB).
MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024
MAX_CLASSES_BYTES = 1024 * 1024
MAX_CARD_BYTES = 4 * 1024 * 1024
TORCHVISION_PREFIX = "torchvision:"
CARD_SUFFIXES = (".json", ".toml")


class NetworkError(UnknownModel):
    """A network card, checkpoint or classes file that cannot be used (the sentence says what to fix)."""


class Recipe(BaseModel):
    """The input recipe: resize the shorter side to ``round(input_size / crop_pct)`` with ``interpolation``,
    center-crop ``input_size``, normalize with ``mean`` / ``std`` (one value per RGB channel)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_size: int = Field(ge=16, le=1024)
    interpolation: Literal["nearest", "bilinear", "bicubic"] = "bicubic"
    crop_pct: float = Field(default=0.875, gt=0.0, le=1.0)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @field_validator("std")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) <= 0:
            raise ValueError("every std must be positive")
        return v


class NetworkCard(BaseModel):
    """Everything prepscope needs to rebuild a user's network offline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["prepscope-network-card"] = "prepscope-network-card"
    version: Literal[1] = 1
    name: str
    #: a timm model name (``timm.list_models()``) or ``torchvision:BUILDER`` (a classification builder)
    architecture: str
    #: the checkpoint's file name inside the networks folder
    checkpoint: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    classes: tuple[str, ...] = Field(min_length=2)
    in_chans: Literal[1, 3] = 3
    recipe: Recipe
    #: named layers (feature-info modules); empty: every stage the architecture's feature API reports
    layers: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 48, starting with a letter or digit)")
        return v

    @property
    def library(self) -> str:
        return "torchvision" if self.architecture.startswith(TORCHVISION_PREFIX) else "timm"

    @property
    def builder(self) -> str:
        return self.architecture.removeprefix(TORCHVISION_PREFIX)


# ------------------------------------------------------------------------------------------------ folder


def networks_dir() -> Path:
    """``$PREPSCOPE_NETWORKS_DIR``, else ``$PREPSCOPE_HOME/networks`` (created on first write)."""
    env = os.environ.get("PREPSCOPE_NETWORKS_DIR")
    return Path(env).expanduser() if env else prepscope_home() / "networks"


def _inside(folder: Path, path: Path, what: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise NetworkError(f"The {what} {path} lies outside the networks folder {folder}; add the network with "
                           "`python -m core networks add` so its files are copied there.")
    return resolved


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise NetworkError(f"Network name {name!r} is not allowed; use letters, digits, '.', '_' or '-' (at most "
                           "48, starting with a letter or digit).")
    return name


def card_names() -> list[str]:
    """Names of the cards in the networks folder, sorted (nothing is read but the file names)."""
    folder = networks_dir()
    if not folder.is_dir():
        return []
    return sorted({p.stem for ext in CARD_SUFFIXES for p in folder.glob(f"*{ext}") if NAME_RE.match(p.stem)})


def _card_path(name: str) -> Path:
    """The card's file: ``NAME.json``, else ``NAME.toml`` (the JSON path when neither exists)."""
    folder = networks_dir()
    paths = [_inside(folder, folder / f"{check_name(name)}{ext}", "card") for ext in CARD_SUFFIXES]
    return next((p for p in paths if p.is_file()), paths[0])


def read_card(name: str) -> NetworkCard:
    """The validated card ``name`` (a sentence when it is missing, too large or not a network card)."""
    path = _card_path(name)
    if not path.is_file():
        have = ", ".join(card_names()) or "none yet"
        raise NetworkError(f"No network named {name!r} in {networks_dir()} (have: {have}); add it with "
                           "`python -m core networks add`.")
    return _parse_card(path.read_bytes(), path.name)


def _parse_card(raw: bytes, label: str) -> NetworkCard:
    if len(raw) > MAX_CARD_BYTES:
        raise NetworkError(f"{label} is larger than {MAX_CARD_BYTES // 2**20} MB; a network card is a small JSON file.")
    try:
        if label.endswith(".toml"):
            import tomllib

            try:
                return NetworkCard.model_validate(tomllib.loads(raw.decode("utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
                raise NetworkError(f"{label} is not valid TOML ({e}); fix the card or add the network again.") from None
        return NetworkCard.model_validate_json(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the card"
        raise NetworkError(f"{label} is not a valid network card: {where}: {err['msg']}.") from None


def card_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` of card ``name``, like a built-in model's (read from the card; no torch)."""
    card = read_card(name)
    return _spec(card, _card_path(name).stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _spec(card: NetworkCard, _mtime: int) -> ModelSpec:
    r = card.recipe
    recipe = DataConfig(r.input_size, r.interpolation, r.crop_pct, tuple(r.mean), tuple(r.std),
                        f"network card {card.name}")
    return ModelSpec(card.name, f"{card.library} {card.builder}", f"your checkpoint {card.checkpoint} "
                     f"(sha256 {card.sha256[:12]}…), {len(card.classes)} classes", True, "card", card.builder,
                     recipe=recipe, classes=card.classes, in_chans=card.in_chans, card_sha256=card.sha256,
                     layers=card.layers)


def remove_card(name: str) -> NetworkCard:
    """Delete card ``name`` and its checkpoint; returns the removed card."""
    card = read_card(name)
    folder = networks_dir()
    _card_path(name).unlink()
    ckpt = folder / card.checkpoint
    if ckpt.resolve().is_relative_to(folder.resolve()) and ckpt.is_file():
        ckpt.unlink()
    return card


# -------------------------------------------------------------------------------------------- reading


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_classes(path: Path) -> tuple[str, ...]:
    """Class names from a labels file: a JSON list, or one name per line (blank lines and ``#`` comments skipped)."""
    try:
        if path.stat().st_size > MAX_CLASSES_BYTES:
            raise NetworkError(f"{path.name} is larger than 1 MB; a classes file holds one name per line.")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NetworkError(f"Classes file not found: {path}.") from None
    except UnicodeDecodeError:
        raise NetworkError(f"{path.name} is not UTF-8 text; give one class name per line.") from None
    return parse_classes(text, path.name)


def parse_classes(text: str, label: str) -> tuple[str, ...]:
    """Class names from the text of a labels file (see ``read_classes``)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            names = json.loads(stripped)
        except json.JSONDecodeError:
            raise NetworkError(f"{label} starts like a JSON list but is not valid JSON; give a list of strings or "
                               "one name per line.") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise NetworkError(f"{label} must be a JSON list of strings.")
    else:
        names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    names = [n.strip() for n in names]
    if len(names) < 2:
        raise NetworkError(f"{label} names {len(names)} class(es); a classifier needs at least two.")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise NetworkError(f"{label} names {', '.join(repr(d) for d in dup[:5])} more than once; class names must "
                           "be unique.")
    return tuple(names)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors through timm's own reader (safetensors, or ``torch.load(weights_only=True)``; EMA
    weights preferred; ``module.`` / ``_orig_mod.`` prefixes removed). Pickles of other objects are refused."""
    import torch
    from timm.models import load_state_dict

    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise NetworkError(f"{path.name} is not a checkpoint prepscope reads; save the weights as .safetensors "
                           "(preferred) or a state_dict with torch.save to .pt/.pth.")
    if not path.is_file():
        raise NetworkError(f"Checkpoint not found: {path}.")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise NetworkError(f"{path.name} is larger than {MAX_CHECKPOINT_BYTES // 2**30} GB; prepscope reads "
                           "checkpoints up to that size.")
    try:
        sd = load_state_dict(str(path), use_ema=True, device="cpu", weights_only=True)
    except Exception as e:  # safetensors and torch raise many types for a corrupt or unsafe file
        if path.suffix.lower() == ".safetensors":
            raise NetworkError(f"{path.name} is not a readable safetensors file ({type(e).__name__}); save it "
                               "again with safetensors.torch.save_file.") from None
        raise NetworkError(f"{path.name} is a pickle that needs more than tensors to load, so weights_only=True "
                           "refused it; save model.state_dict() (torch.save or safetensors) instead of the "
                           "model object.") from None
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise NetworkError(f"{path.name} is not a state_dict (a mapping of names to tensors); save "
                           "model.state_dict() instead.")
    return sd


# ------------------------------------------------------------------------------------------- building


def known_architecture(architecture: str) -> bool:
    if architecture.startswith(TORCHVISION_PREFIX):
        import torchvision.models

        return architecture.removeprefix(TORCHVISION_PREFIX) in torchvision.models.list_models(
            module=torchvision.models)
    import timm

    return timm.is_model(architecture)


def require_architecture(architecture: str) -> None:
    if not known_architecture(architecture):
        raise NetworkError(f"Unknown architecture {architecture!r}: give a timm model name (timm.list_models()) "
                           "or torchvision:BUILDER with a torchvision classification builder (e.g. "
                           "torchvision:resnet50).")


def build_module(card: NetworkCard) -> nn.Module:
    """The card's architecture with random weights, never from a hub (``pretrained=False`` / ``weights=None``)."""
    import torch

    require_architecture(card.architecture)
    n = len(card.classes)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        if card.library == "torchvision":
            import torchvision.models

            if card.in_chans != 3:
                raise NetworkError("torchvision builders take three input channels; use a timm architecture for "
                                   "an in_chans: 1 network.")
            return torchvision.models.get_model(card.builder, weights=None, num_classes=n).eval()
        import timm

        kwargs = {"pretrained": False, "num_classes": n, "in_chans": card.in_chans}
        default = timm.models.get_pretrained_cfg(card.builder)
        if default is not None and int(default.input_size[-1]) != card.recipe.input_size:
            try:  # fixed-size position embeddings (ViT and kin) are built for the recipe's size
                return timm.create_model(card.builder, img_size=card.recipe.input_size, **kwargs).eval()
            except TypeError:
                pass
        return timm.create_model(card.builder, **kwargs).eval()


def head_key(module: nn.Module) -> str | None:
    """The state_dict key of the classifier's weight (the last Linear, or timm's ``get_classifier``)."""
    from torch import nn

    head = module.get_classifier() if hasattr(module, "get_classifier") else None
    if not isinstance(head, nn.Linear | nn.Conv2d):
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        head = linears[-1] if linears else None
    if head is None:
        return None
    return next((f"{name}.weight" for name, m in module.named_modules() if m is head), None)


def fill(module: nn.Module, sd: dict[str, torch.Tensor], card: NetworkCard, label: str) -> None:
    """Load ``sd`` into ``module`` strictly; a mismatch is one sentence naming the first differing tensor."""
    target = module.state_dict()
    key = head_key(module)
    if key in sd and key in target and sd[key].shape[0] != target[key].shape[0]:
        raise NetworkError(f"{label}'s head has {sd[key].shape[0]} outputs but the classes list names "
                           f"{len(card.classes)}; give exactly {sd[key].shape[0]} class names.")
    missing = [k for k in target if k not in sd]
    extra = [k for k in sd if k not in target]
    if missing or extra:
        what = f"lacks {missing[0]!r}" if missing else f"has {extra[0]!r}, which"
        tail = " the architecture does not have" if not missing else ""
        raise NetworkError(f"{label} does not fit {card.architecture}: it {what}{tail} ({len(missing)} missing, "
                           f"{len(extra)} unexpected tensors); check the architecture name.")
    for k, ref in target.items():
        if sd[k].shape != ref.shape:
            hint = (" (the first conv's input channels: check --in-chans)" if sd[k].ndim == 4 and
                    sd[k].shape[1] != ref.shape[1] and sd[k].shape[0] == ref.shape[0] else "")
            raise NetworkError(f"{label} does not fit {card.architecture}: {k} is {tuple(sd[k].shape)} in the "
                               f"checkpoint but {tuple(ref.shape)} in the architecture{hint}; check the "
                               "architecture name, --in-chans and --input-size.")
    module.load_state_dict(sd, strict=True)


def build_card_module(card: NetworkCard) -> nn.Module:
    """The card's network with its checkpoint, after checking the checkpoint's SHA-256 against the card's."""
    folder = networks_dir()
    path = _inside(folder, folder / card.checkpoint, "checkpoint")
    if not path.is_file():
        raise NetworkError(f"Checkpoint {card.checkpoint} of network {card.name!r} is missing from {folder}; "
                           "remove the network and add it again.")
    if sha256_file(path) != card.sha256:
        raise NetworkError(f"Checkpoint {card.checkpoint} of network {card.name!r} has changed since the card was "
                           "written (SHA-256 differs); add the network again if the new file is intended.")
    module = build_module(card)
    fill(module, read_state_dict(path), card, card.checkpoint)
    return module.eval()


def default_recipe(architecture: str, in_chans: int = 3, input_size: int | None = None) -> Recipe:
    """The architecture's pretrained input recipe (timm's pretrained config, torchvision's default weights'
    transforms), with ``input_size`` overridden when given; one-channel networks get the channel-averaged
    mean/std on all three entries (their single input is the average of the three normalized channels)."""
    require_architecture(architecture)

    size, interp, crop, mean, std = 224, "bilinear", 0.875, IMAGENET_MEAN, IMAGENET_STD
    if architecture.startswith(TORCHVISION_PREFIX):
        import torchvision.models

        try:
            t = torchvision.models.get_model_weights(architecture.removeprefix(TORCHVISION_PREFIX)).DEFAULT.transforms()
            size, interp = int(t.crop_size[0]), t.interpolation.value
            crop, mean, std = size / int(t.resize_size[0]), tuple(t.mean), tuple(t.std)
        except (ValueError, AttributeError, KeyError):
            pass
    else:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(architecture)
        if cfg is not None:
            size, interp, crop = int(cfg.input_size[-1]), cfg.interpolation, float(cfg.crop_pct)
            mean, std = tuple(cfg.mean), tuple(cfg.std)
    if interp not in ("nearest", "bilinear", "bicubic"):
        interp = "bicubic"
    if in_chans == 1:
        mean, std = (sum(mean) / 3,) * 3, (sum(std) / 3,) * 3
    return Recipe(input_size=input_size or size, interpolation=interp, crop_pct=crop, mean=mean, std=std)


def recipe_with(base: Recipe, **changes: object) -> Recipe:
    """``base`` with some fields changed, validated (a sentence naming the bad field)."""
    try:
        return Recipe.model_validate({**base.model_dump(), **changes})
    except ValidationError as e:
        err = e.errors()[0]
        raise NetworkError(f"Recipe field {'.'.join(str(p) for p in err['loc'])}: {err['msg']}.") from None


def card_spec_of(card: NetworkCard) -> ModelSpec:
    """The ``ModelSpec`` of a card not yet written to the folder."""
    return _spec(card, 0)


def forward_check(model) -> dict:  # noqa: ANN001 - a LoadedModel
    """One forward of a uniform input at the mean (all zeros after normalization) at the recipe's size: every
    named layer's output shape and the top classes, as shown when a network is added."""
    import torch

    size = model.input_size
    maps, pooled, logits = model.forward_layers(torch.zeros(1, 3, size, size))
    probs = torch.softmax(logits[0].float().cpu(), dim=0)
    top = torch.topk(probs, k=min(3, probs.numel()))
    return {"input": [3, size, size],
            "layers": [[name, list(m.shape[1:])] for name, m in zip(model.layer_names, maps, strict=True)],
            "pooled": int(pooled.shape[-1]),
            "top": [[model.labels[int(i)], float(p)] for p, i in zip(top.values, top.indices, strict=True)]}
