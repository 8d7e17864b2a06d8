"""The device-side part of the pipeline: colormap lookup, resize and normalization on the model's device.

A sweep on a GPU keeps the CPU for what only it can do (decoding, spectrograms, gray conversion to 8 bits)
and sends each item to the device as its small 8-bit channel image: gray for gray strategies and
colormaps, RGB for ``rgb``. There the colormap table is looked up, the batch is resized by the same
``resize_batch`` as on the CPU and normalized by the same ``normalize_batch``, so every rule stays in
``core.preprocess.pipeline``. Only variants whose every step can run there take this path
(``on_device``): a torch resize backend and no degradations (JPEG, noise, blur and median run on the
CPU). On the CPU this path gives exactly the bytes of ``prepare_grid`` (tests/test_features.py checks
it); on a GPU, resizing 8-bit images goes through float32 (torchvision's CUDA kernels), so a pixel may
differ by one level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.preprocess.channels import strategy
from core.preprocess.pipeline import (
    normalization,
    normalize_batch,
    resize_batch,
    source_image,
    stored_image,
)
from core.preprocess.variant import Spectrogram, Variant
from core.signal import Signal

#: What this path implements. A field it does not know (a later pipeline step) must be at its default for a
#: variant to take it, so a new step can never be skipped silently: such variants stay on the CPU pipeline.
_HANDLED = {"name", "resize", "channels", "colormap", "gray", "normalize", "degrade", "spectrogram"}
_RESIZE_HANDLED = {"size", "method", "antialias", "backend", "fit"}


def _defaults_elsewhere(spec, handled: set[str]) -> bool:
    return all(getattr(spec, name) == info.get_default(call_default_factory=True)
               for name, info in type(spec).model_fields.items() if name not in handled)


def on_device(variant: Variant) -> bool:
    """True when every step after the 8-bit channel image can run on the model's device: a torch resize, no
    degradations, a channel strategy and fields this path implements (anything else left at its default)."""
    return (variant.resize.backend == "torch" and not variant.degrade and strategy(variant).on_device
            and _defaults_elsewhere(variant, _HANDLED) and _defaults_elsewhere(variant.resize, _RESIZE_HANDLED))


def host_images(signals: Sequence[Signal], variant: Variant, sources: dict | None = None) -> list[np.ndarray]:
    """The 8-bit channel image of each signal that the device path starts from: HxWx1 gray (gray strategies
    and colormaps; the table is looked up on the device) or HxWx3 (``rgb``). ``sources`` caches each
    signal's source image (its spectrogram, for a sound) between variants, keyed like ``prepare_grid``."""
    gray_like = strategy(variant).device_variant(variant)
    spec_key = repr(variant.spectrogram or Spectrogram())
    out = []
    for n, signal in enumerate(signals):
        key = (n, "" if signal.audio is None else spec_key)
        src = sources.get(key) if sources is not None else None
        if src is None:
            src = source_image(signal, variant)
            if sources is not None:
                sources[key] = src
        out.append(stored_image(src, gray_like, signal))  # png8 (on_device): the uint8 channel image
    return out


def to_device(images: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """Each HxWxC uint8 image as a (C,H,W) view of a tensor on ``device``: through pinned memory with a
    non-blocking copy on a GPU, shared with the array (no copy) on the CPU."""
    out = []
    for a in images:
        t = torch.from_numpy(np.ascontiguousarray(a))
        if device.type == "cuda":
            t = t.pin_memory().to(device, non_blocking=True)
        out.append(t.permute(2, 0, 1))
    return out


def prepare_on_device(images: Sequence[torch.Tensor], variant: Variant, mean: Sequence[float], std: Sequence[float]
                      ) -> torch.Tensor:
    """(N,3,S,S) network input from ``to_device`` images: colormap lookup (for ``colormap``), resize and fit
    (same-shaped images in one call, as ``prepare_grid`` does), then normalization, all on their device."""
    images = strategy(variant).on_device_lookup(list(images), variant)
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(images):
        groups.setdefault(tuple(t.shape), []).append(i)
    resized: list[torch.Tensor | None] = [None] * len(images)
    for members in groups.values():
        for i, r in zip(members, resize_batch(torch.stack([images[i] for i in members]), variant.resize), strict=True):
            resized[i] = r
    x = torch.stack(resized).float() / 255.0
    vm, vs = normalization(variant, mean, std)
    return normalize_batch(x, variant, vm, vs)
