"""Adding a network card: the checkpoint checked by building the network offline, loading it strictly and running
one forward through the same wrapper every view reads (``core.models.registry.wrap_card``), then copied into the
networks folder with its card (atomically, the card last). It stands above the registry, which reads cards
(``core.models.networks``) to load them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from core.models.networks import (
    NetworkCard,
    NetworkError,
    Recipe,
    build_module,
    card_names,
    card_spec_of,
    check_name,
    default_recipe,
    fill,
    head_key,
    networks_dir,
    read_state_dict,
    require_architecture,
    sha256_file,
)
from core.models.registry import wrap_card
from core.models.specs import MODELS, imagenet_labels


def add_network(name: str, architecture: str, checkpoint: Path, classes: tuple[str, ...] | None = None,
                in_chans: int = 3, input_size: int | None = None, recipe: Recipe | None = None,
                layers: tuple[str, ...] = (), replace: bool = False) -> NetworkCard:
    """Check and register a network: build it offline, load the checkpoint, run one forward on a gray input,
    then copy the checkpoint into the networks folder and write the card (atomically, the card last).
    Without ``classes`` a 1000-output head gets the ImageNet classes; any other head needs its names."""
    check_name(name)
    if name in MODELS:
        raise NetworkError(f"{name!r} is a built-in model; give your network another name.")
    folder = networks_dir()
    if name in card_names() and not replace:
        raise NetworkError(f"A network named {name!r} exists already; remove it first or pick another name.")
    require_architecture(architecture)
    sd = read_state_dict(checkpoint)
    if classes is None:
        probe = NetworkCard(name=name, architecture=architecture, checkpoint="-", sha256="0" * 64,
                            classes=("a", "b"), in_chans=in_chans,
                            recipe=recipe or default_recipe(architecture, in_chans, input_size))
        key = head_key(build_module(probe))
        outputs = int(sd[key].shape[0]) if key in sd else None
        if outputs != 1000:
            raise NetworkError(f"{checkpoint.name}'s head has {outputs or 'an unknown number of'} outputs, not "
                               "ImageNet's 1000; give the class names with --classes FILE (one per line).")
        classes = tuple(imagenet_labels())
    suffix = checkpoint.suffix.lower()
    card = NetworkCard(name=name, architecture=architecture, checkpoint=f"{name}{suffix}",
                       sha256=sha256_file(checkpoint), classes=classes, in_chans=in_chans,
                       recipe=recipe or default_recipe(architecture, in_chans, input_size), layers=tuple(layers))
    module = build_module(card)
    fill(module, sd, card, checkpoint.name)
    loaded = wrap_card(card_spec_of(card), module)
    size = card.recipe.input_size
    with torch.inference_mode():
        _, _, logits = loaded.forward_layers(torch.zeros(1, 3, size, size))
    if logits.shape[-1] != len(card.classes):
        raise NetworkError(f"{checkpoint.name} produced {logits.shape[-1]} outputs for {len(card.classes)} "
                           "classes; give as many class names as the head has outputs.")
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_copy(checkpoint, folder / card.checkpoint)
    _atomic_write(folder / f"{name}.json", card.model_dump_json(indent=2).encode())
    return card


def _atomic_copy(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_write(dst: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
