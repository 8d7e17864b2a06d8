"""How much an activation map moved, and whether it points at evidence the network uses.

- ``agreement_spearman``: Spearman rank correlation between a variant's map and the reference's over all
  pixels (scipy ``spearmanr``); 1 = the same ranking of where the network looks. None when either map is
  constant (no ranking). A map of another size is resized (bilinear) to the reference's first.
- ``agreement_iou``: intersection over union of the two maps' top-``TOP_FRACTION`` areas (the 15% of pixels
  with the highest values, ties broken by position).
- ``deletion_auc`` / ``insertion_auc`` (Petsiuk et al. 2018, RISE): the pixels of the network input are
  ranked by the map (highest first) and, in ``STEPS`` equal steps, removed (deletion: set to the training
  mean, 0 after normalization) from the input, or inserted (insertion: copied from the input into a
  blurred copy, Gaussian sigma ``BLUR_SIGMA`` x side); the target class's softmax probability is recorded
  after each step and the curve's area over the fraction of pixels (trapezoid, [0, 1]) is the score. A
  faithful map has a LOW deletion AUC (the probability falls fast) and a HIGH insertion AUC.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

TOP_FRACTION = 0.15
STEPS = 16
BLUR_SIGMA = 0.05
_CHUNK = 16


def _same_size(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if m.shape == shape:
        return m
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    return F.interpolate(t, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def spearman(reference: np.ndarray, other: np.ndarray) -> float | None:
    """Spearman rank correlation of two maps (other resized to reference's size); None if either is constant."""
    from scipy.stats import spearmanr

    a = np.asarray(reference, dtype=np.float64).ravel()
    b = _same_size(np.asarray(other, dtype=np.float32), reference.shape).astype(np.float64).ravel()
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def top_mask(m: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Boolean mask of the ``ceil(fraction * pixels)`` highest values (ties broken by raster position)."""
    flat = np.asarray(m, dtype=np.float64).ravel()
    k = max(1, math.ceil(fraction * flat.size))
    order = np.argsort(-flat, kind="stable")[:k]
    mask = np.zeros(flat.size, dtype=bool)
    mask[order] = True
    return mask.reshape(np.shape(m))


def top_iou(reference: np.ndarray, other: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """IoU of the two maps' top-``fraction`` areas (other resized to reference's size)."""
    a = top_mask(reference, fraction)
    b = top_mask(_same_size(np.asarray(other, dtype=np.float32), reference.shape), fraction)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _blurred(x: torch.Tensor) -> torch.Tensor:
    sigma = max(1.0, BLUR_SIGMA * max(x.shape[-2:]))
    k = 2 * math.ceil(3 * sigma) + 1
    k = min(k, 2 * (min(x.shape[-2:]) // 2) - 1)  # reflect padding needs a kernel smaller than the image
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])


def perturbation_curves(model, x: torch.Tensor, saliency: np.ndarray, class_index: int,
                        steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """(deletion, insertion) probability curves, ``steps + 1`` points each, for one normalized input (3, H, W)
    ranked by ``saliency`` (H, W); forwards through the shared model under its lock (no gradients)."""
    h, w = x.shape[-2:]
    order = torch.from_numpy(np.argsort(-np.asarray(saliency, dtype=np.float64).ravel(), kind="stable").copy())
    n = h * w
    counts = [round(n * k / steps) for k in range(steps + 1)]
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n)
    rank = rank.view(1, h, w)
    base = x.float().cpu()
    blurred = _blurred(base[None])[0]
    images = []
    for c in counts:  # deletion: the top-c pixels set to 0 (the training mean after normalization)
        images.append(torch.where(rank < c, torch.zeros_like(base), base))
    for c in counts:  # insertion: the top-c pixels copied into the blurred image
        images.append(torch.where(rank < c, base, blurred))
    probs = []
    for s in range(0, len(images), _CHUNK):
        _, logits = model.features_and_logits(torch.stack(images[s : s + _CHUNK]))
        probs.append(logits.float().softmax(dim=1)[:, class_index])
    p = torch.cat(probs).numpy().astype(np.float64)
    return p[: steps + 1], p[steps + 1 :]


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps over [0, 1] (trapezoid)."""
    c = np.asarray(curve, dtype=np.float64)
    return float(np.trapezoid(c, dx=1.0 / (len(c) - 1))) if len(c) > 1 else float(c[0])
