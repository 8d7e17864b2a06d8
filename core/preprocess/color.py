"""Color rules: gray from RGB (ITU-R BT.601, BT.709, plain mean, or a saved learned rule) and colormap tables.

numpy only (matplotlib is read once per colormap); the channel strategies (``core.preprocess.channels``), the
pipeline and the Autoencoder lab's fair comparisons all use these same functions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from core.learned.inference import learned_gray

GRAY_WEIGHTS = {"601": (0.299, 0.587, 0.114), "709": (0.2126, 0.7152, 0.0722), "mean": (1 / 3, 1 / 3, 1 / 3)}
LEARNED_PREFIX = "learned:"


def to_gray(rgb: np.ndarray, rule: str) -> np.ndarray:
    """HxWx3 -> HxW luma by the named rule (float32); ``learned:<name>`` runs a saved learned gray rule."""
    if rule.startswith(LEARNED_PREFIX):
        return learned_gray(rgb, rule.removeprefix(LEARNED_PREFIX))
    w = np.asarray(GRAY_WEIGHTS[rule], dtype=np.float32)
    return (rgb @ w).astype(np.float32)


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as uint8 (rounded, clipped)."""
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def colormap_lut(name: str) -> np.ndarray:
    """matplotlib's colormap sampled at 256 levels: (256, 3) float32 in [0, 1] (read-only, cached)."""
    from matplotlib import colormaps

    lut = colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32)
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=64)
def colormap_lut8(name: str) -> np.ndarray:
    """The same table quantized to uint8, so a gray uint8 image maps to RGB uint8 in one lookup."""
    lut8 = to_uint8(colormap_lut(name))
    lut8.flags.writeable = False
    return lut8
